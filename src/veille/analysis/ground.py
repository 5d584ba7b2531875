"""Ground: Kosmos-2 boxes on the best keyframe of each described chunk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from veille.errors import BackendError
from veille.types import Chunk, Keyframe

if TYPE_CHECKING:
    from veille.backends.base import Grounder


def best_keyframe(chunk: Chunk) -> int:
    """Index of the keyframe with the strongest motion (the first on ties)."""
    scores = [k.score for k in chunk.keyframes]
    return scores.index(max(scores))


def ground_chunks(chunks: Sequence[Chunk], grounder: Grounder) -> tuple[dict[int, tuple[Keyframe, ...]], list[str]]:
    """Keyframes by chunk id, the best one also carrying the grounder's boxes; failures become warnings."""
    out: dict[int, tuple[Keyframe, ...]] = {}
    warnings: list[str] = []
    for chunk in chunks:
        if not chunk.keyframes:
            continue
        index = best_keyframe(chunk)
        frame = chunk.keyframes[index]
        if frame.image is None:  # its image was dropped: nothing to ground
            continue
        try:
            boxes = tuple(grounder.ground(frame.image))
        except BackendError as exc:
            warnings.append(f"chunk {chunk.id}: grounding failed ({exc})")
            continue
        frames = list(chunk.keyframes)
        frames[index] = replace(frame, boxes=frame.boxes + boxes)  # motion boxes stay, named boxes added
        out[chunk.id] = tuple(frames)
    return out, warnings
