"""What moves where, frame by frame, on a grid of overlapping windows.

Each analysed frame is a small gray image (``ANALYSIS_HEIGHT`` px high). Dense optical flow (OpenCV's
DIS, one pyramid level above full resolution, no variational refinement: cheap enough for every frame)
gives every pixel's displacement since the previous analysed frame; a pixel *moves* when its flow
is at least ``MOVE_PX`` and the picture changed near it (so flow smeared onto a flat background
is not motion). The frame is cut into ``CELL``-pixel cells; a *window* is 2×2 cells (16 px), one
every cell, so windows overlap by half. Per window:

- ``share``: the share of its pixels that move;
- ``speed``: their mean speed, in frame heights per second (independent of the resolution and
  of the frame rate, so a profile learned at one rate scores video at another);
- ``energy``: ``share × speed``, the mean speed over the whole window: a big slow object and a
  small fast one both raise it;
- ``size``: the area of the largest moving blob touching it, as a share of the frame.

Perspective is handled by learning each window separately (see :mod:`veille.anomaly.profile`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

ANALYSIS_HEIGHT = 160
CELL = 8
MOVE_PX = 0.3
DIFF_LEVEL = 10
ACTIVE_SHARE = 0.05
TARGET_RATE = 5.0

_OPEN = np.ones((3, 3), np.uint8)
_NEAR = np.ones((5, 5), np.uint8)


def analysis_frame_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the analysis frame for a ``width`` × ``height`` video: at most ``ANALYSIS_HEIGHT``
    high, never upscaled, both multiples of ``CELL`` (the aspect may shift by a few pixels)."""
    h = min(ANALYSIS_HEIGHT, height)
    w = round(width * h / height)
    return max(2 * CELL, w - w % CELL), max(2 * CELL, h - h % CELL)


def window_grid(size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of windows for an analysis frame of ``size`` (w, h)."""
    return size[1] // CELL - 1, size[0] // CELL - 1


def frame_interval(fps: float) -> float:
    """Seconds between analysed frames: every n-th frame, about ``TARGET_RATE`` a second."""
    fps = fps or TARGET_RATE
    return max(1, round(fps / TARGET_RATE)) / fps


@contextlib.contextmanager
def own_threads() -> Iterator[None]:
    """OpenCV's thread pool off meanwhile: the frames here are small, so its workers mostly wait
    (and spin, burning a third more CPU); decoding on a second thread keeps two cores busy instead."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@dataclass(frozen=True, slots=True)
class FrameObs:
    """One analysed frame's windows, each array (rows, columns) of ``float32``."""

    t_s: float
    share: np.ndarray
    speed: np.ndarray
    energy: np.ndarray
    size: np.ndarray | None  # None unless asked for (see :func:`blob_sizes`)
    moving: np.ndarray  # the moving mask (uint8 0/1, the analysis frame's shape)

    def sizes(self) -> np.ndarray:
        """Blob sizes per window, measured now if they were not yet."""
        return self.size if self.size is not None else blob_sizes(self.moving)

    def size_at(self, row: int, col: int) -> float:
        """The blob size of one window (cheaper than :meth:`sizes` when they were not measured: the
        blobs are labelled without their statistics, and only those touching the window are counted)."""
        if self.size is not None:
            return float(self.size[row, col])
        _, labels = cv2.connectedComponents(self.moving, connectivity=8, ltype=cv2.CV_32S)
        inside = labels[row * CELL : (row + 2) * CELL, col * CELL : (col + 2) * CELL]
        found = np.unique(inside[inside > 0])
        area = max((np.count_nonzero(labels == label) for label in found), default=0)
        return area / self.moving.size

    @property
    def active(self) -> np.ndarray:
        """Windows where enough pixels move to speak of motion."""
        return self.share > ACTIVE_SHARE


def _cells(image: np.ndarray) -> np.ndarray:
    """Mean of each ``CELL`` × ``CELL`` block (an exact block mean: the factor is a whole number)."""
    h, w = image.shape
    return cv2.resize(image, (w // CELL, h // CELL), interpolation=cv2.INTER_AREA)


def _windows(cells: np.ndarray, op: str = "mean") -> np.ndarray:
    a, b, c, d = cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]
    if op == "mean":
        return (a + b + c + d) * 0.25
    return np.maximum(np.maximum(a, b), np.maximum(c, d))


class MotionFeatures:
    """Turns a stream of analysis frames into :class:`FrameObs` (stateful: keeps the previous frame).

    Speeds are divided by the time between the two frames (their timestamps), so they are per
    second whatever the frame rate.

    Args:
        size: (w, h) of the analysis frames (see :func:`analysis_frame_size`).
        sizes: measure blob sizes on every frame (connected components: a cost per frame); otherwise
            :meth:`FrameObs.sizes` measures them on demand.
    """

    def __init__(self, size: tuple[int, int], *, sizes: bool = True) -> None:
        self.size = size
        self.sizes = sizes
        self._prev: np.ndarray | None = None
        self._prev_blur: np.ndarray | None = None
        self._prev_t = 0.0
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)  # type: ignore[attr-defined]
        self._flow.setFinestScale(1)
        self._flow.setPatchStride(6)
        self._flow.setGradientDescentIterations(12)
        self._flow.setVariationalRefinementIterations(0)

    def reset(self) -> None:
        """Forget the previous frame (after a jump in time)."""
        self._prev = self._prev_blur = None

    def update(self, gray: np.ndarray, t_s: float) -> FrameObs | None:
        """Feed the next analysis frame (``uint8``, shape (h, w)); None for the first one."""
        if gray.shape != (self.size[1], self.size[0]):
            gray = cv2.resize(gray, self.size, interpolation=cv2.INTER_AREA)
        blur = cv2.GaussianBlur(gray, (5, 5), 0)
        prev, prev_blur, prev_t = self._prev, self._prev_blur, self._prev_t
        self._prev, self._prev_blur, self._prev_t = gray, blur, t_s
        if prev is None or prev_blur is None:
            return None
        dt = t_s - prev_t if t_s > prev_t else 1 / TARGET_RATE
        changed = cv2.threshold(cv2.absdiff(blur, prev_blur), DIFF_LEVEL, 1, cv2.THRESH_BINARY)[1]
        if not cv2.countNonZero(changed):  # nothing changed, so nothing moves: no flow to compute
            still = np.zeros(window_grid(self.size), np.float32)
            return FrameObs(t_s, still, still, still, still if self.sizes else None, np.zeros_like(gray))
        changed = cv2.dilate(changed, _NEAR)
        flow = self._flow.calc(prev, gray, None)
        magnitude = cv2.magnitude(flow[..., 0], flow[..., 1])
        fast = cv2.threshold(magnitude, MOVE_PX, 1, cv2.THRESH_BINARY)[1].astype(np.uint8)
        moving = cv2.morphologyEx(cv2.bitwise_and(fast, changed), cv2.MORPH_OPEN, _OPEN)
        per_second = 1 / (dt * self.size[1])  # px between the two frames -> frame heights per second
        share = _windows(_cells(moving.astype(np.float32)))
        energy = _windows(_cells(cv2.multiply(magnitude, moving, dtype=cv2.CV_32F))) * np.float32(per_second)
        speed = energy / np.maximum(share, np.float32(1e-6))
        size = blob_sizes(moving) if self.sizes else None
        return FrameObs(t_s, share, speed, energy, size, moving)


def blob_sizes(moving: np.ndarray) -> np.ndarray:
    """Per window, the area of the largest moving blob touching it, as a share of the frame."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    grid = (moving.shape[0] // CELL - 1, moving.shape[1] // CELL - 1)
    if count <= 1:
        return np.zeros(grid, np.float32)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float32) / float(moving.size)
    area[0] = 0.0
    h, w = moving.shape
    cells = area[labels].reshape(h // CELL, CELL, w // CELL, CELL).max(axis=(1, 3))
    return _windows(cells, "max")
