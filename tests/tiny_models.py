"""Offline factory of tiny, randomly initialised checkpoints for tests.

Every builder trains a small byte-level BPE tokenizer with the ``tokenizers``
library, builds a 1-2 layer model of the exact architecture used by the
application (Idefics3/SmolVLM, Phi, Phi-3, Kosmos-2), and writes it with
``save_pretrained`` (safetensors) so that it loads back through the ``Auto*``
classes exactly like the real Hub checkpoints.  Nothing touches the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GenerationConfig,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    Kosmos2Config,
    Kosmos2ForConditionalGeneration,
    Kosmos2Processor,
    Phi3Config,
    Phi3ForCausalLM,
    PhiConfig,
    PhiForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

if TYPE_CHECKING:
    import pytest

SEED = 0
BPE_VOCAB_SIZE = 600

CORPUS: tuple[str, ...] = (
    "A person in a dark jacket walks past the parking lot entrance.",
    "Camera 3 shows a white van stopping near the loading dock at night.",
    "Two people stand by the gate; one of them is carrying a backpack.",
    "No motion detected in the hallway between 02:00 and 04:00.",
    "A cyclist crosses the street while the traffic light is red.",
    "The delivery truck leaves the warehouse and turns left.",
    "Someone opens the back door of the store and looks around.",
    "An unattended bag lies on the bench next to the bus stop.",
    "The security guard checks the fence along the north side.",
    "A dog runs across the lawn in front of the house.",
    "Describe what happens in this surveillance video frame.",
    "User: What can you see in the image? Assistant: A car and a person.",
)

# Chat template of HuggingFaceTB/SmolVLM-Instruct (processor side).
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Chat template of microsoft/Phi-3-mini-4k-instruct (tokenizer side).
PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

IDEFICS3_ROW_COL_TOKENS: tuple[str, ...] = tuple(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7))
IDEFICS3_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *IDEFICS3_ROW_COL_TOKENS,
)
PHI_SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>",)
PHI3_SPECIAL_TOKENS: tuple[str, ...] = (
    "<unk>",
    "<s>",
    "</s>",
    "<|endoftext|>",
    "<|assistant|>",
    "<|system|>",
    "<|end|>",
    "<|user|>",
)
# XLM-R layout: <s>=0, <pad>=1, </s>=2, <unk>=3 (Kosmos2Config's default token ids).
KOSMOS2_SPECIAL_TOKENS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")
KOSMOS2_TAG_TOKENS: tuple[str, ...] = (
    "</doc>",
    "<image>",
    "</image>",
    "</chunk>",
    "</line>",
    "<phrase>",
    "</phrase>",
    "<object>",
    "</object>",
    "</delimiter_of_multi_objects/>",
    "<grounding>",
)
KOSMOS2_NUM_PATCH_INDEX_TOKENS = 1024
KOSMOS2_LATENT_QUERY_NUM = 64


# --------------------------------------------------------------------------- tokenizers


def train_bpe_tokenizer(
    special_tokens: Sequence[str | AddedToken],
    *,
    vocab_size: int = BPE_VOCAB_SIZE,
    corpus: Iterable[str] = CORPUS,
) -> Tokenizer:
    """Train a byte-level BPE ``tokenizers.Tokenizer`` with ``special_tokens`` at training time.

    Special tokens get the first ids (in order) and are each encoded as one token. Digits are split
    one by one, as the SmolLM and Phi-3 (Llama) tokenizers do: a tiny corpus would otherwise merge
    " 0" (from times like 02:00) but not " 1", an unevenness no real tokenizer has.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return tokenizer


def _bos_template(tokenizer: Tokenizer, bos: str, eos: str | None = None) -> processors.TemplateProcessing:
    """Post-processor prepending ``bos`` (and appending ``eos`` if given), like Llama / XLM-R."""
    suffix = f" {eos}" if eos else ""
    pair_suffix = f" {eos}:1" if eos else ""
    names = [bos, eos] if eos else [bos]
    return processors.TemplateProcessing(
        single=f"{bos} $A{suffix}",
        pair=f"{bos} $A{suffix} $B:1{pair_suffix}",
        special_tokens=[(name, _token_id(tokenizer, name)) for name in names],
    )


def _token_id(tokenizer: Tokenizer | PreTrainedTokenizerFast, token: str) -> int:
    """Id of ``token``; raise if it is not a single known token."""
    backend = tokenizer if isinstance(tokenizer, Tokenizer) else tokenizer.backend_tokenizer
    token_id = backend.token_to_id(token)
    if token_id is None:
        raise ValueError(f"{token!r} is not a single token of the tiny tokenizer")
    return int(token_id)


def _padded_vocab(tokenizer: PreTrainedTokenizerFast, multiple: int = 8) -> int:
    """Model vocab size covering the whole tokenizer, rounded up like the real checkpoints."""
    return -(-len(tokenizer) // multiple) * multiple


# --------------------------------------------------------------------------- saving


def _seeded(seed: int = SEED) -> None:
    """Make random initialisation deterministic."""
    torch.manual_seed(seed)


def _save_model(model: PreTrainedModel, dest: Path, generation: dict[str, Any]) -> None:
    """Attach a generation config and save the model (safetensors) into ``dest``."""
    model.generation_config = GenerationConfig(**generation)
    model.eval()
    model.save_pretrained(dest, safe_serialization=True)


# --------------------------------------------------------------------------- Idefics3


def _idefics3_tokenizer() -> PreTrainedTokenizerFast:
    """SmolVLM-like tokenizer: bos <|im_start|>, eos <end_of_utterance>, pad <|im_end|>."""
    backend = train_bpe_tokenizer(IDEFICS3_SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        model_max_length=8192,
    )


def idefics3_image_seq_len(image_size: int, patch_size: int, scale_factor: int) -> int:
    """Number of ``<image>`` tokens per crop, as Idefics3Processor documents it."""
    return int(((image_size // patch_size) ** 2) / (scale_factor**2))


def _idefics3_config(
    tokenizer: PreTrainedTokenizerFast, image_size: int, patch_size: int, scale_factor: int
) -> Idefics3Config:
    """Tiny Idefics3 config (SigLIP-like vision tower + Llama text model)."""
    text_config = {
        "model_type": "llama",
        "vocab_size": _padded_vocab(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": False,
    }
    vision_config = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "image_size": image_size,
        "patch_size": patch_size,
    }
    return Idefics3Config(
        text_config=text_config,
        vision_config=vision_config,
        scale_factor=scale_factor,
        image_token_id=_token_id(tokenizer, "<image>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def build_idefics3(
    dest: Path,
    *,
    image_size: int = 32,
    patch_size: int = 8,
    scale_factor: int = 2,
    do_image_splitting: bool = True,
) -> Path:
    """Build a tiny Idefics3 (SmolVLM) checkpoint + processor into ``dest`` and return it.

    ``image_size`` is the vision tower's input size and the processor's
    ``max_image_size``; the processor resizes images to ``2 * image_size`` before
    splitting, so a split image gives at most 2x2 crops plus the global image.
    """
    if (image_size // patch_size) % scale_factor:
        raise ValueError("image_size // patch_size must be divisible by scale_factor")
    dest = Path(dest)
    tokenizer = _idefics3_tokenizer()
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=do_image_splitting,
        size={"longest_edge": 2 * image_size},
        max_image_size={"longest_edge": image_size},
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=idefics3_image_seq_len(image_size, patch_size, scale_factor),
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    _seeded()
    model = Idefics3ForConditionalGeneration(_idefics3_config(tokenizer, image_size, patch_size, scale_factor))
    _save_model(model, dest, _generation_ids(tokenizer))
    processor.save_pretrained(dest)
    return dest


def _generation_ids(tokenizer: PreTrainedTokenizerFast, eos: Sequence[str] = ()) -> dict[str, Any]:
    """bos/eos/pad ids for a GenerationConfig; extra ``eos`` tokens make eos a list."""
    eos_ids: int | list[int] | None = tokenizer.eos_token_id
    if eos:
        eos_ids = [_token_id(tokenizer, token) for token in eos]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos_ids, "pad_token_id": pad}


# --------------------------------------------------------------------------- Phi / Phi-3


def build_phi(dest: Path) -> Path:
    """Build a tiny Phi (microsoft/phi-2 architecture, ``PhiForCausalLM``) into ``dest``."""
    dest = Path(dest)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe_tokenizer(PHI_SPECIAL_TOKENS),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=2048,
    )
    config = PhiConfig(
        vocab_size=_padded_vocab(tokenizer, 64),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=2048,
        partial_rotary_factor=0.5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    _seeded()
    model = PhiForCausalLM(config)
    _save_model(model, dest, _generation_ids(tokenizer))
    tokenizer.save_pretrained(dest)
    return dest


def _phi3_tokenizer() -> PreTrainedTokenizerFast:
    """Phi-3-mini-like tokenizer: prepends <s>, eos/pad <|endoftext|>, chat template."""
    backend = train_bpe_tokenizer(PHI3_SPECIAL_TOKENS)
    backend.post_processor = _bos_template(backend, "<s>")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        chat_template=PHI3_CHAT_TEMPLATE,
        model_max_length=4096,
    )


def build_phi3(dest: Path) -> Path:
    """Build a tiny Phi-3 (Phi-3-mini-4k-instruct architecture, ``Phi3ForCausalLM``) into ``dest``."""
    dest = Path(dest)
    tokenizer = _phi3_tokenizer()
    config = Phi3Config(
        vocab_size=_padded_vocab(tokenizer, 64),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        original_max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    _seeded()
    model = Phi3ForCausalLM(config)
    _save_model(model, dest, _generation_ids(tokenizer, eos=("<|endoftext|>", "<|assistant|>", "<|end|>")))
    tokenizer.save_pretrained(dest)
    return dest


# --------------------------------------------------------------------------- Kosmos-2


def _kosmos2_tokenizer() -> PreTrainedTokenizerFast:
    """XLM-R-like tokenizer carrying Kosmos-2's tag and ``<patch_index_XXXX>`` tokens.

    ``<s> <pad> </s> <unk>`` are trainer special tokens (ids 0-3).  The tag and
    patch-index tokens are single, *non-special* added tokens with ``lstrip=True``
    exactly as ``Kosmos2Processor`` registers them (so ``skip_special_tokens``
    keeps them and ``post_process_generation`` can find ``</image>``); ``<mask>``
    comes last, as in XLM-R.
    """
    backend = train_bpe_tokenizer(KOSMOS2_SPECIAL_TOKENS)
    patch_tokens = [f"<patch_index_{index:04d}>" for index in range(KOSMOS2_NUM_PATCH_INDEX_TOKENS)]
    backend.add_tokens(
        [AddedToken(token, lstrip=True, normalized=False) for token in (*KOSMOS2_TAG_TOKENS, *patch_tokens)]
    )
    backend.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False, special=True)])
    backend.post_processor = _bos_template(backend, "<s>", "</s>")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=2048,
    )


def _kosmos2_config(tokenizer: PreTrainedTokenizerFast, image_size: int) -> Kosmos2Config:
    """Tiny Kosmos-2 config: 1-layer CLIP-like vision tower, 1-layer text decoder."""
    text_config = {
        "vocab_size": _padded_vocab(tokenizer),
        "embed_dim": 32,
        "layers": 1,
        "ffn_dim": 64,
        "attention_heads": 4,
        "max_position_embeddings": 512,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    vision_config = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "image_size": image_size,
        "patch_size": 8,
    }
    return Kosmos2Config(
        text_config=text_config, vision_config=vision_config, latent_query_num=KOSMOS2_LATENT_QUERY_NUM
    )


def build_kosmos2(dest: Path, *, image_size: int = 32) -> Path:
    """Build a tiny Kosmos-2 (microsoft/kosmos-2-patch14-224 architecture) into ``dest``.

    ``latent_query_num`` is 64, the ``num_image_tokens`` default of ``Kosmos2Processor``.
    """
    dest = Path(dest)
    tokenizer = _kosmos2_tokenizer()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = Kosmos2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        num_patch_index_tokens=KOSMOS2_NUM_PATCH_INDEX_TOKENS,
    )
    _seeded()
    model = Kosmos2ForConditionalGeneration(_kosmos2_config(tokenizer, image_size))
    _save_model(model, dest, _generation_ids(tokenizer))
    processor.save_pretrained(dest)
    return dest


# --------------------------------------------------------------------------- all


def build_all(root: Path) -> dict[str, Path]:
    """Build every tiny checkpoint under ``root``; keys: idefics3, phi, phi3, kosmos2."""
    root = Path(root)
    return {
        "idefics3": build_idefics3(root / "idefics3"),
        "phi": build_phi(root / "phi"),
        "phi3": build_phi3(root / "phi3"),
        "kosmos2": build_kosmos2(root / "kosmos2"),
    }


def tiny_models_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Body of a session-scoped ``tiny_models`` fixture: ``build_all`` into a fresh temp dir."""
    return build_all(tmp_path_factory.mktemp("tiny-models"))
