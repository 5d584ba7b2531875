"""Keyframe thumbnails written as soon as a chunk is analysed, so the full-resolution images can go.

Every keyframe of a kept chunk is written (an event picks its keyframes only once all its chunks
are known); once the report is written, the thumbnails it does not show are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from veille.analysis.motion_events import _with_motion_boxes
from veille.report.build import THUMBS_DIR
from veille.report.evidence import draw_boxes, save_jpeg
from veille.report.schema import Report
from veille.types import Chunk, Keyframe
from veille.video.decode import grab_frames


class Thumbnails:
    """A :class:`~veille.analysis.keyframes.KeyframeStore` writing ``folder/thumbs/*.jpg``.

    Args:
        folder: the report folder.
        video: the video (keyframes are decoded again from it when a later stage needs an image).
        keyframe_times: the stream's keyframe times (a list the scan may still be filling).
    """

    def __init__(self, folder: Path, video: Path, keyframe_times: Sequence[float] = ()) -> None:
        self.folder, self.video, self.keyframe_times = Path(folder), Path(video), keyframe_times
        self.chunks: list[Chunk] = []  # every chunk kept so far, images dropped
        self.kept_ids: set[int] = set()

    def keep(self, chunk: Chunk) -> Chunk:
        """Write the chunk's keyframes (with the boxes the report shows) and keep it without its images."""
        frames = tuple(self._write(chunk, i, k, k.image) for i, k in enumerate(chunk.keyframes))
        kept = replace(chunk, keyframes=frames)
        self.chunks.append(kept)
        self.kept_ids.add(chunk.id)
        return kept

    def image(self, chunk: Chunk, index: int) -> np.ndarray:
        """Decode keyframe ``index`` of ``chunk`` again, exactly as the scan's chunk loading did."""
        frame = chunk.keyframes[index]
        if frame.image is not None:
            return frame.image
        decoded = grab_frames(self.video, [k.t_s for k in chunk.keyframes], self.keyframe_times)
        if not decoded:
            raise ValueError(f"chunk {chunk.id}: keyframe at {frame.t_s:.3f} s could not be decoded again")
        return min(decoded, key=lambda item: abs(item[0] - frame.t_s))[1]

    def redraw(self, chunk: Chunk, index: int, keyframe: Keyframe, image: np.ndarray) -> Keyframe:
        """Write keyframe ``index`` again with its new boxes (under its own name: the first stays valid)."""
        return self._write(chunk, index, keyframe, image, suffix="_named")

    def _write(
        self, chunk: Chunk, index: int, keyframe: Keyframe, image: np.ndarray | None, suffix: str = ""
    ) -> Keyframe:
        if image is None:
            return keyframe
        name = f"{THUMBS_DIR}/chunk{chunk.id:04d}_{index}_{keyframe.t_s:09.3f}{suffix}.jpg"
        shown = _with_motion_boxes(keyframe, chunk)  # as the report will show it
        save_jpeg(self.folder / name, draw_boxes(image, shown.boxes))
        return replace(keyframe, image=None, thumb=name)


def prune_thumbnails(folder: Path, report: Report) -> None:
    """Remove the thumbnails in ``folder/thumbs`` that ``report`` does not show."""
    shown = {k.image for e in report.events for k in e.keyframes}
    with contextlib.suppress(OSError):
        for path in (Path(folder) / THUMBS_DIR).glob("*.jpg"):
            if f"{THUMBS_DIR}/{path.name}" not in shown:
                path.unlink(missing_ok=True)
