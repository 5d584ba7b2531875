"""Describe: one VLM answer per chunk from its keyframes, chunks batched per call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from veille.analysis.parsing import clean_description
from veille.analysis.prompts import describe_prompt
from veille.errors import BackendError
from veille.i18n import count
from veille.types import Chunk

if TYPE_CHECKING:
    from veille.backends.base import VisionLanguageModel, VisionRequest

log = logging.getLogger(__name__)


def describe_chunks(
    chunks: Sequence[Chunk],
    vlm: VisionLanguageModel,
    *,
    context: str = "",
    batch_size: int = 1,
    max_new_tokens: int = 48,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[int, str], int, int, list[str]]:
    """Descriptions by chunk id, the number of VLM calls, of frames sent, and warnings.

    Chunks without keyframes are skipped; unusable or failed answers leave the chunk out (with a warning).
    """
    todo = [c for c in chunks if c.keyframes]
    out: dict[int, str] = {}
    warnings: list[str] = []
    calls = frames = 0
    for start in range(0, len(todo), max(1, batch_size)):
        batch = todo[start : start + max(1, batch_size)]
        shown = [[k for k in c.keyframes if k.image is not None] for c in batch]
        requests: list[VisionRequest] = [
            (describe_prompt([k.t_s for k in frames], context), [k.image for k in frames if k.image is not None])
            for frames in shown
        ]
        calls += 1
        frames += sum(len(images) for _, images in requests)
        try:
            answers = vlm.generate_batch(requests, max_new_tokens=max_new_tokens)
        except BackendError as exc:
            warnings.append(f"describer failed on {count(len(batch), 'chunk')}: {exc}")
            answers = [""] * len(batch)
        for chunk, answer in zip(batch, answers, strict=False):
            text = clean_description(answer)
            if text is None:
                warnings.append(f"chunk {chunk.id}: the describer's answer was unusable; motion-based fallback")
            else:
                out[chunk.id] = text
        if on_progress:
            on_progress(start + len(batch))
    return out, calls, frames, warnings
