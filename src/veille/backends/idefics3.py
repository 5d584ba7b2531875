"""Describer backend: Idefics3-family VLMs (SmolVLM-Instruct, -500M, -256M) through transformers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.backends import _hf
from veille.backends.base import VisionRequest
from veille.backends.guard import model_call

if TYPE_CHECKING:
    import numpy as np


class Idefics3Backend:
    """``AutoModelForImageTextToText`` + ``AutoProcessor`` with the model's chat template.

    Image splitting is off by default, so each frame costs one tile (81 tokens for
    SmolVLM-Instruct, 64 for 256M/500M). ``longest_edge`` bounds the resized frame when splitting.
    """

    def __init__(
        self,
        path: Path,
        options: Any,
        *,
        model_id: str,
        revision: str | None = None,
        image_splitting: bool = False,
        longest_edge: int | None = None,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        _, fields = _hf.load_options(options, "describer")
        self.processor = AutoProcessor.from_pretrained(path)
        self.processor.tokenizer.padding_side = "left"  # batched generation continues on the right
        source = _hf.int8_source(options, model_id, revision)
        self.model = _hf.load_model(AutoModelForImageTextToText, path, options, "describer", **source)
        self.info = _hf.model_info(model_id, revision, fields)
        self.image_splitting = image_splitting
        self.longest_edge = longest_edge

    def _prompt(self, prompt: str, count: int) -> str:
        content = [{"type": "image"} for _ in range(count)] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        return str(self.processor.apply_chat_template(messages, add_generation_prompt=True))

    @property
    def image_size(self) -> int:
        """The side of the square image the vision encoder takes in (a storyboard is composed at it).

        With image splitting on, the side the processor resizes an image to before it cuts it.
        """
        processor = self.processor.image_processor
        if self.image_splitting:
            return int(self.longest_edge or _edge(processor.size))
        return int(_edge(processor.max_image_size))

    def token_counts(self, requests: Sequence[VisionRequest]) -> list[tuple[int, int]]:
        """(image tokens, all prompt tokens) of each request, as the model would be given them."""
        texts = [self._prompt(prompt, len(images)) for prompt, images in requests]
        pil = [_hf.to_pil(images) for _, images in requests]
        inputs = self.processor(text=texts, images=pil, padding=False, **self._image_kwargs())
        image_id = self.processor.tokenizer.convert_tokens_to_ids("<image>")
        return [(ids.count(image_id), len(ids)) for ids in inputs["input_ids"]]

    def _image_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"do_image_splitting": self.image_splitting}
        if self.longest_edge:
            kwargs["size"] = {"longest_edge": self.longest_edge}
        return kwargs

    @model_call
    def generate(self, prompt: str, images: Sequence[np.ndarray], *, max_new_tokens: int) -> str:
        """The model's answer about ``images``."""
        return self.generate_batch([(prompt, images)], max_new_tokens=max_new_tokens)[0]

    @model_call
    def generate_batch(self, requests: Sequence[VisionRequest], *, max_new_tokens: int) -> list[str]:
        """Answer several requests in one padded forward pass (each needs at least one image)."""
        import torch

        texts = [self._prompt(prompt, len(images)) for prompt, images in requests]
        pil = [_hf.to_pil(images) for _, images in requests]
        inputs = self.processor(text=texts, images=pil, return_tensors="pt", padding=True, **self._image_kwargs())
        inputs = inputs.to(_hf.input_device(self.model)).to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **_hf.greedy_kwargs(max_new_tokens))
        new = out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def close(self) -> None:
        """Free the model."""
        model, self.model = self.model, None
        _hf.free(model)


def _edge(size: Any) -> int:
    """The longest edge of a processor's size setting (a dict or a SizeDict)."""
    if isinstance(size, dict):
        return int(size.get("longest_edge") or max(size.get("height", 0), size.get("width", 0)))
    return int(getattr(size, "longest_edge", None) or max(size.height or 0, size.width or 0))
