"""Core value types passed along the pipeline.

One frozen dataclass per concept. Foreign formats (PyAV frames, model text, Kosmos entities) are
converted into these once, at the edge. Times are float seconds named ``*_s``; boxes are pixel
``xyxy``; images are RGB ``uint8`` arrays of shape (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What probing a video file tells before any frame is decoded."""

    path: Path
    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    codec: str
    avg_fps: float = 0.0
    variable_frame_rate: bool = False
    rotation: int = 0
    keyframe_interval_s: float | None = None
    bit_rate: int | None = None
    pix_fmt: str | None = None


@dataclass(frozen=True, slots=True)
class Box:
    """A labelled box in pixel ``xyxy`` coordinates of the full-resolution frame."""

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
    heartbeat: bool = False

    @property
    def duration_s(self) -> float:
        """Length of the segment in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A full-resolution frame chosen to show a chunk to a model and in the report.

    Once its thumbnail is written, the image is dropped (``None``) and ``thumb`` names the
    thumbnail, relative to the report folder.
    """

    t_s: float
    image: np.ndarray | None = field(repr=False, compare=False)
    score: float = 0.0
    boxes: tuple[Box, ...] = ()
    thumb: str = ""


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
class Description:
    """What the vision-language model said about a chunk."""

    chunk_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Judgement:
    """The reasoner's structured verdict on a chunk."""

    chunk_id: int
    threat_level: int
    confidence: float
    title: str
    description: str


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
