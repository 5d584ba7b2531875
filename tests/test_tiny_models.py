"""The tiny offline checkpoints load through the Auto classes and generate.

Weights are random, so only the plumbing (shapes, types, token counts) is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from tests.tiny_models import tiny_models_fixture

MAX_NEW_TOKENS = 6
MAX_CHECKPOINT_BYTES = 20 * 1024 * 1024
LOAD_KWARGS: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """All tiny checkpoints, built once per session."""
    return tiny_models_fixture(tmp_path_factory)


def _image(width: int, height: int, color: tuple[int, int, int]) -> Image.Image:
    """A plain RGB test image."""
    return Image.new("RGB", (width, height), color)


def _new_tokens(output: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """Tokens produced by ``generate`` after the prompt."""
    assert output.ndim == 2 and output.shape[0] == 1
    new = output[0, prompt_len:]
    assert 0 < new.numel() <= MAX_NEW_TOKENS
    return new


@pytest.mark.parametrize("name", ["idefics3", "phi", "phi3", "kosmos2"])
def test_checkpoint_files(tiny_models: dict[str, Path], name: str) -> None:
    """Saved as safetensors, small, with a generation config and no pickles."""
    directory = tiny_models[name]
    files = {path.name: path.stat().st_size for path in directory.iterdir()}
    assert "model.safetensors" in files
    assert {"config.json", "generation_config.json", "tokenizer.json"} <= files.keys()
    assert not [file for file in files if file.endswith((".bin", ".pt", ".pth"))]
    assert sum(files.values()) < MAX_CHECKPOINT_BYTES


def test_build_all_keys(tiny_models: dict[str, Path]) -> None:
    """``build_all`` returns one existing directory per architecture."""
    assert set(tiny_models) == {"idefics3", "phi", "phi3", "kosmos2"}
    assert all(path.is_dir() for path in tiny_models.values())


def _load_causal_lm(directory: Path) -> tuple[Any, Any]:
    """Model and tokenizer through the Auto classes, as the app loads them."""
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **LOAD_KWARGS)
    tokenizer = AutoTokenizer.from_pretrained(directory, **LOAD_KWARGS)
    return model.eval(), tokenizer


def _generate_text(model: Any, tokenizer: Any, prompt: str) -> tuple[torch.Tensor, str]:
    """Greedy-generate a few tokens; return the new ids and their decoded text."""
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new = _new_tokens(output, inputs["input_ids"].shape[1])
    return new, tokenizer.decode(new, skip_special_tokens=True)


def test_phi_generates(tiny_models: dict[str, Path]) -> None:
    """Phi (phi-2 architecture) loads with AutoModelForCausalLM + AutoTokenizer and generates."""
    model, tokenizer = _load_causal_lm(tiny_models["phi"])
    assert type(model).__name__ == "PhiForCausalLM"
    assert model.config.vocab_size >= len(tokenizer)
    _, text = _generate_text(model, tokenizer, "Summarise: a person walks past the gate.")
    assert isinstance(text, str)


def test_phi3_chat_template_and_generation(tiny_models: dict[str, Path]) -> None:
    """Phi-3 renders its chat template, prepends <s>, and generates."""
    model, tokenizer = _load_causal_lm(tiny_models["phi3"])
    assert type(model).__name__ == "Phi3ForCausalLM"
    assert model.config.vocab_size >= len(tokenizer)
    messages = [{"role": "user", "content": "What happens in the parking lot?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt.startswith("<|user|>\n") and prompt.endswith("<|assistant|>\n")
    assert tokenizer(prompt)["input_ids"][0] == tokenizer.bos_token_id
    _, text = _generate_text(model, tokenizer, prompt)
    assert isinstance(text, str)


def _load_vlm(directory: Path) -> tuple[Any, Any]:
    """Vision-language model and processor through the Auto classes."""
    model = AutoModelForImageTextToText.from_pretrained(directory, dtype=torch.float32, **LOAD_KWARGS)
    processor = AutoProcessor.from_pretrained(directory, **LOAD_KWARGS)
    return model.eval(), processor


def _idefics3_inputs(processor: Any, **kwargs: Any) -> Any:
    """Two images and a question through SmolVLM's chat template."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "What changed between these two frames?"},
            ],
        }
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert isinstance(prompt, str) and prompt.endswith("Assistant:")
    images = [_image(48, 40, (200, 30, 30)), _image(40, 48, (30, 30, 200))]
    return processor(text=prompt, images=images, return_tensors="pt", **kwargs)


def _count(ids: torch.Tensor, token_id: int) -> int:
    """Occurrences of ``token_id`` in ``ids``."""
    return int((ids == token_id).sum())


def test_idefics3_token_counts(tiny_models: dict[str, Path]) -> None:
    """Per-image token count matches between processor and model config, with and without splitting."""
    model, processor = _load_vlm(tiny_models["idefics3"])
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    vision = model.config.vision_config
    expected = (vision.image_size // vision.patch_size) ** 2 // model.config.scale_factor**2
    assert processor.image_seq_len == expected
    image_id = model.config.image_token_id
    assert processor.image_token_id == image_id

    unsplit = _idefics3_inputs(processor, do_image_splitting=False)
    assert _count(unsplit["input_ids"], image_id) == 2 * processor.image_seq_len
    assert unsplit["pixel_values"].shape[:2] == (1, 2)

    split = _idefics3_inputs(processor)  # saved config: splitting on, 2x2 crops + global
    crops = split["pixel_values"].shape[1]
    assert crops == 2 * (2 * 2 + 1)
    assert _count(split["input_ids"], image_id) == crops * processor.image_seq_len


@pytest.mark.parametrize("do_image_splitting", [False, True])
def test_idefics3_generates(tiny_models: dict[str, Path], do_image_splitting: bool) -> None:
    """Idefics3 (SmolVLM architecture) generates from a two-image chat prompt."""
    model, processor = _load_vlm(tiny_models["idefics3"])
    inputs = _idefics3_inputs(processor, do_image_splitting=do_image_splitting)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    new = _new_tokens(output, inputs["input_ids"].shape[1])
    texts = processor.batch_decode(new[None], skip_special_tokens=True)
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_kosmos2_grounded_generation(tiny_models: dict[str, Path]) -> None:
    """Kosmos-2 processor + generate + post_process_generation plumbing."""
    model, processor = _load_vlm(tiny_models["kosmos2"])
    assert type(model).__name__ == "Kosmos2ForConditionalGeneration"
    tokenizer = processor.tokenizer
    for token in ("<grounding>", "</image>", "<patch_index_0000>", "<patch_index_1023>"):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    assert model.config.text_config.vocab_size >= len(tokenizer)

    inputs = processor(text="<grounding>An image of", images=_image(40, 30, (10, 120, 10)), return_tensors="pt")
    mask = inputs["image_embeds_position_mask"]
    assert mask.shape == inputs["input_ids"].shape
    assert int(mask.sum()) == model.config.latent_query_num == 64
    with torch.inference_mode():
        output = model.generate(
            pixel_values=inputs["pixel_values"],
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            image_embeds=None,
            image_embeds_position_mask=mask,
            max_new_tokens=MAX_NEW_TOKENS,
        )
    assert output.shape[1] > inputs["input_ids"].shape[1]
    text = processor.batch_decode(output, skip_special_tokens=True)[0]
    caption, entities = processor.post_process_generation(text)
    assert isinstance(caption, str) and isinstance(entities, list)
