"""Grounder backend: Kosmos-2 (``<grounding>`` prompt → phrases with boxes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.backends import _hf
from veille.backends.guard import model_call
from veille.types import Box

if TYPE_CHECKING:
    import numpy as np

GROUNDING_PROMPT = "<grounding>An image of"

#: ``(phrase, (start, end), [(x1, y1, x2, y2) normalised 0..1, ...])`` as ``post_process_generation`` gives.
Entity = tuple[str, tuple[int, int], Sequence[tuple[float, float, float, float]]]


def entities_to_boxes(entities: Sequence[Entity], width: int, height: int) -> list[Box]:
    """Kosmos-2 entities → labelled pixel ``xyxy`` boxes, clipped to the frame; degenerate boxes dropped."""
    boxes = []
    for phrase, _span, coords in entities:
        label = " ".join(str(phrase).split()) or "object"
        for x1, y1, x2, y2 in coords:
            xs = sorted(min(1.0, max(0.0, float(v))) * width for v in (x1, x2))
            ys = sorted(min(1.0, max(0.0, float(v))) * height for v in (y1, y2))
            if xs[1] - xs[0] >= 1 and ys[1] - ys[0] >= 1:
                boxes.append(Box(label=label[:60], xyxy=(xs[0], ys[0], xs[1], ys[1])))
    return boxes


class Kosmos2Backend:
    """``AutoModelForImageTextToText`` (Kosmos-2) + its processor."""

    def __init__(
        self, path: Path, options: Any, *, model_id: str, revision: str | None = None, max_new_tokens: int = 32
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        _, fields = _hf.load_options(options, "grounder")
        self.processor = AutoProcessor.from_pretrained(path)
        source = _hf.int8_source(options, model_id, revision)
        self.model = _hf.load_model(AutoModelForImageTextToText, path, options, "grounder", **source)
        self.info = _hf.model_info(model_id, revision, fields)
        self.max_new_tokens = max_new_tokens

    @model_call
    def caption(self, image: np.ndarray) -> str:
        """The raw generated text (tags included) after the prompt."""
        import torch

        inputs = self.processor(text=GROUNDING_PROMPT, images=_hf.to_pil([image])[0], return_tensors="pt")
        inputs = inputs.to(_hf.input_device(self.model)).to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **_hf.greedy_kwargs(self.max_new_tokens))
        new = out[0, inputs["input_ids"].shape[1] :]  # Kosmos-2's output repeats the prompt
        return str(self.processor.decode(new, skip_special_tokens=True))

    @model_call
    def ground(self, image: np.ndarray) -> list[Box]:
        """Named boxes in pixel coordinates of ``image``."""
        text = self.caption(image)
        _caption, entities = self.processor.post_process_generation(GROUNDING_PROMPT + text)
        return entities_to_boxes(entities, image.shape[1], image.shape[0])

    def close(self) -> None:
        """Free the model."""
        model, self.model = self.model, None
        _hf.free(model)
