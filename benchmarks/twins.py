"""Full-size random-weight twins of the catalog models, saved as model folders ``veille analyze`` can load.

Shapes are the published configurations (as in ``benchmarks/analysis.py``); weights are N(0, 0.02)
(norms 1, biases 0), in the dtype the real repository ships: Phi-2 fp16, SmolVLM bf16, Kosmos-2
fp32. The weights are written one tensor at a time (no copy of the model in memory), beside the
tiny test tokenizer and processor of the same architecture. The embedding and output rows of the
ids that the tiny vocabulary lacks are zeros, so the twins generate ids that decode to words (a
describer that wrote nothing would leave the grounder and the reasoner nothing to work on); compute
does not depend on weight values or tokens.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402

from veille.backends.tensorfile import TensorWriter  # noqa: E402

#: The dtype each real repository ships its safetensors in.
SHIPPED = {"phi-2": torch.float16, "smolvlm-256m": torch.bfloat16, "smolvlm": torch.bfloat16, "kosmos-2": torch.float32}
TINY = {"phi-2": "phi", "smolvlm-256m": "idefics3", "smolvlm": "idefics3", "kosmos-2": "kosmos2"}


def _phi2(tiny: Path, dest: Path) -> tuple[Any, Any]:
    from transformers import AutoTokenizer, PhiConfig, PhiForCausalLM

    config = PhiConfig(
        vocab_size=51200,
        hidden_size=2560,
        intermediate_size=10240,
        num_hidden_layers=32,
        num_attention_heads=32,
        partial_rotary_factor=0.4,
        max_position_embeddings=2048,
    )
    AutoTokenizer.from_pretrained(tiny).save_pretrained(dest)
    return PhiForCausalLM, config


def _smolvlm(name: str, tiny: Path, dest: Path) -> tuple[Any, Any]:
    from analysis import VLM_SHAPES
    from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    shape = VLM_SHAPES[name]
    hidden, inter, layers, heads, kv = shape["text"]
    processor = AutoProcessor.from_pretrained(tiny)
    edge = shape["vision"]["image_size"]
    processor.image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": 4 * edge}, max_image_size={"longest_edge": edge}
    )
    processor.image_seq_len = shape["tokens"]
    processor.save_pretrained(dest)
    text = {
        "model_type": "llama",
        "vocab_size": 49280,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
        "pad_token_id": processor.tokenizer.pad_token_id,
        "eos_token_id": processor.tokenizer.eos_token_id,
    }
    config = Idefics3Config(
        text_config=text,
        vision_config=shape["vision"],
        scale_factor=shape["scale"],
        image_token_id=processor.tokenizer.convert_tokens_to_ids("<image>"),
    )
    return Idefics3ForConditionalGeneration, config


def _kosmos2(tiny: Path, dest: Path) -> tuple[Any, Any]:
    from transformers import AutoProcessor, Kosmos2Config, Kosmos2ForConditionalGeneration
    from transformers.models.clip import CLIPImageProcessorPil

    processor = AutoProcessor.from_pretrained(tiny)
    processor.image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    processor.save_pretrained(dest)
    text = {
        "vocab_size": 65037,
        "embed_dim": 2048,
        "layers": 24,
        "ffn_dim": 8192,
        "attention_heads": 32,
        "max_position_embeddings": 2048,
    }
    vision = {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
    }
    return Kosmos2ForConditionalGeneration, Kosmos2Config(text_config=text, vision_config=vision, latent_query_num=64)


def build_twin(name: str, tiny_root: Path, dest: Path) -> Path:
    """Write the twin of catalog model ``name`` into ``dest``, beside the tiny checkpoints built in ``tiny_root``."""
    from accelerate import init_empty_weights

    dest.mkdir(parents=True, exist_ok=True)
    tiny = tiny_root / TINY[name]
    if name == "phi-2":
        cls, config = _phi2(tiny, dest)
    elif name == "kosmos-2":
        cls, config = _kosmos2(tiny, dest)
    else:
        cls, config = _smolvlm(name, tiny, dest)
    config.dtype = SHIPPED[name]
    with init_empty_weights():
        model = cls(config)
    model.config.save_pretrained(dest)
    if (tiny / "generation_config.json").is_file():
        (dest / "generation_config.json").write_bytes((tiny / "generation_config.json").read_bytes())
    tied = set(getattr(model, "all_tied_weights_keys", {}) or {})
    params = [(n, p.shape) for n, p in model.named_parameters() if n not in tied]
    dtype = SHIPPED[name]
    vocab, known = _vocab_size(config), _tiny_vocab(tiny)
    writer = TensorWriter(dest / "model.safetensors", [(n, dtype, s) for n, s in params], {"format": "pt"})
    generator = torch.Generator().manual_seed(0)
    for param_name, shape in params:
        if len(shape) > 1:
            value = torch.empty(shape, dtype=torch.float32).normal_(0.0, 0.02, generator=generator)
            if shape[0] == vocab:  # an embedding or output layer: ids the tokenizer cannot decode are never chosen
                value[known:] = 0.0
        else:
            value = torch.full(shape, 1.0 if param_name.endswith("weight") else 0.0)
        writer.write(param_name, value.to(dtype))
        del value
    writer.close()
    return dest


def _vocab_size(config: Any) -> int:
    text = getattr(config, "text_config", None) or config
    return int(text.vocab_size)


def _tiny_vocab(tiny: Path) -> int:
    """How many ids the tiny tokenizer beside the twin can decode."""
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(tiny))


def twin_bytes(path: Path) -> int:
    """The size of a twin's weights on disk."""
    return sum(p.stat().st_size for p in path.glob("*.safetensors"))
