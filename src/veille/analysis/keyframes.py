"""Where the keyframes of analysed chunks go once a model no longer needs their images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from veille.types import Chunk, Keyframe


class KeyframeStore(Protocol):
    """Keeps chunks once they are described, and gives back a keyframe's image when a later stage needs it.

    The pipeline's store writes each keyframe as a thumbnail and drops the image (memory stays flat
    however long the video); :class:`InMemoryKeyframes` keeps everything as it is.
    """

    def keep(self, chunk: Chunk) -> Chunk:
        """The chunk as it is kept from now on (its images may be dropped)."""
        ...

    def image(self, chunk: Chunk, index: int) -> np.ndarray:
        """The full-resolution image of keyframe ``index`` of a kept chunk."""
        ...

    def redraw(self, chunk: Chunk, index: int, keyframe: Keyframe, image: np.ndarray) -> Keyframe:
        """Keyframe ``index`` of a kept chunk given new boxes (``image`` is its full-resolution image)."""
        ...


class InMemoryKeyframes:
    """A :class:`KeyframeStore` that keeps chunks with their images (for callers that pass a list)."""

    def keep(self, chunk: Chunk) -> Chunk:
        return chunk

    def image(self, chunk: Chunk, index: int) -> np.ndarray:
        image = chunk.keyframes[index].image
        if image is None:
            raise ValueError(f"chunk {chunk.id}: keyframe {index} has no image")
        return image

    def redraw(self, chunk: Chunk, index: int, keyframe: Keyframe, image: np.ndarray) -> Keyframe:
        return keyframe
