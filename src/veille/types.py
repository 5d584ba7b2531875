"""Core value types passed along the pipeline.

One frozen dataclass per concept. Foreign formats (PyAV frames, model text, Kosmos entities) are
converted into these once, at the edge. Times are float seconds named ``*_s``; boxes are pixel
``xyxy`` of the upright frame (see :class:`VideoInfo`); images are upright RGB ``uint8`` arrays of
shape (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What probing a video file tells (its container, and its first decoded frame).

    ``width`` × ``height`` is the picture as it is shown, upright: a stream stored sideways with a
    display rotation (phones, body cameras) has its stored size swapped. Keyframes, thumbnails and
    every box (motion, grounding) are in these upright pixel coordinates. ``rotation`` is the
    clockwise turn, in degrees (0, 90, 180 or 270), that makes a stored frame upright; a phone held
    upright records 90.

    ``duration_s`` is how much video the file holds. When the file is shorter than its header says
    (a recording cut off before it was finalised), ``declared_duration_s`` keeps what the header
    said and ``duration_s`` is where the video really stops.
    """

    path: Path
    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    codec: str
    rotation: int = 0
    declared_duration_s: float | None = None

    @property
    def stored_size(self) -> tuple[int, int]:
        """(w, h) of a frame as stored in the stream, before it is turned upright."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


@dataclass(frozen=True, slots=True)
class Box:
    """A labelled box in pixel ``xyxy`` coordinates of the full-resolution upright frame."""

    label: str
    xyxy: tuple[float, float, float, float]
    score: float | None = None


@dataclass(frozen=True, slots=True)
class MotionSample:
    """Motion measured on one decoded frame (downscaled analysis resolution mapped back)."""

    t_s: float
    score: float
    boxes: tuple[Box, ...] = ()
    lighting_change: bool = False


@dataclass(frozen=True, slots=True)
class ScanStretch:
    """Which scan mode ran over which stretch of the video."""

    start_s: float
    end_s: float
    mode: str  # "packets" | "pixels" | "skipped"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the video where something moved."""

    id: int
    start_s: float
    end_s: float
    activity: float  # 0..1, peak motion strength

    @property
    def duration_s(self) -> float:
        """Length of the segment in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A full-resolution frame, turned upright, chosen to show a chunk to a model and in the report."""

    t_s: float
    image: np.ndarray = field(repr=False, compare=False)
    score: float = 0.0
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a segment (at most ``chunk_s`` long) with its keyframes and motion facts."""

    id: int
    segment_id: int
    start_s: float
    end_s: float
    keyframes: tuple[Keyframe, ...] = ()
    motion_boxes: tuple[Box, ...] = ()  # union of motion seen in the chunk
    max_regions: int = 0
    peak_score: float = 0.0
    heartbeat: bool = False


@dataclass(frozen=True, slots=True)
class Judgement:
    """The reasoner's structured verdict on a chunk."""

    chunk_id: int
    threat_level: int
    confidence: float
    title: str


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as it appears in the report."""

    id: int
    start_s: float
    end_s: float
    title: str
    description: str
    threat_level: int
    confidence: float
    source: str  # "vlm" | "motion"
    keyframes: tuple[Keyframe, ...] = ()
    chunk_ids: tuple[int, ...] = ()
