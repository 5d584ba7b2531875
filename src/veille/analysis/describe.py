"""Describe: one VLM answer per chunk from its keyframes, chunks batched per call.

Two layouts: ``frames`` sends each keyframe as its own image; ``storyboard`` sends one image per
chunk, its keyframes as tiles (:mod:`veille.analysis.storyboard`), which costs the describer about
one image's work instead of four on a CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from veille.analysis.parsing import clean_description
from veille.analysis.prompts import describe_prompt, storyboard_prompt
from veille.analysis.storyboard import native_size, pixels, storyboard
from veille.errors import BackendError
from veille.i18n import count
from veille.types import Chunk

if TYPE_CHECKING:
    from veille.backends.base import VisionLanguageModel, VisionRequest

log = logging.getLogger(__name__)

Layout = Literal["storyboard", "frames"]
LAYOUTS: tuple[Layout, ...] = ("storyboard", "frames")


def resolve_layout(setting: str, device: str) -> Layout:
    """The layout to use: the setting, or for ``auto`` a storyboard on the CPU and frames elsewhere.

    On the CPU each image costs the describer seconds of vision encoding and prompt; on a GPU (or a
    server) a chunk of frames costs little, and each frame keeps its full detail.
    """
    if setting in LAYOUTS:
        return setting  # type: ignore[return-value]
    return "storyboard" if device.split(":")[0] == "cpu" else "frames"


def describe_request(chunk: Chunk, layout: Layout, context: str, size: tuple[int, int]) -> VisionRequest:
    """The prompt and images that show ``chunk`` to the describer in ``layout``."""
    times = [k.t_s for k in chunk.keyframes]
    if layout == "storyboard":
        image, zoomed = storyboard(chunk, size)
        return storyboard_prompt(times, context, zoomed=zoomed), [image]
    return describe_prompt(times, context), [pixels(k) for k in chunk.keyframes]


def describe_chunks(
    chunks: Sequence[Chunk],
    vlm: VisionLanguageModel,
    *,
    context: str = "",
    batch_size: int = 1,
    max_new_tokens: int = 48,
    on_progress: Callable[[int], None] | None = None,
    layout: Layout = "frames",
) -> tuple[dict[int, str], int, int, list[str]]:
    """Descriptions by chunk id, the number of VLM calls, of keyframes shown, and warnings.

    ``layout``: each keyframe as an image (``frames``) or one storyboard per chunk. Chunks without
    keyframes are skipped; unusable or failed answers leave the chunk out (with a warning).
    """
    todo = [c for c in chunks if c.keyframes]
    size = native_size(vlm)
    out: dict[int, str] = {}
    warnings: list[str] = []
    calls = frames = 0
    for start in range(0, len(todo), max(1, batch_size)):
        batch = todo[start : start + max(1, batch_size)]
        requests = [describe_request(c, layout, context, size) for c in batch]
        calls += 1
        frames += sum(len(c.keyframes) for c in batch)
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
