"""Report schema v1: the contract other tools rely on.

Times are float seconds from the start of the video; boxes are pixel ``xyxy`` of the
full-resolution frame, turned upright. New optional fields may be added within v1; nothing is removed or renamed.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from veille.backends.info import ModelInfo as ModelInfo  # the report's models entries; defined beside the backends

SCHEMA_VERSION: Final = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoMeta(_Model):
    """The analysed video.

    ``width`` × ``height`` is the picture as shown (upright); ``rotation`` is the clockwise turn
    that made the stored frames upright. ``duration_s`` is how much video the file holds; a file
    shorter than its header says also has ``declared_duration_s``.
    """

    path: str
    duration_s: float = Field(ge=0)
    fps: float = Field(ge=0)
    width: int = Field(ge=0)
    height: int = Field(ge=0)
    frame_count: int = Field(ge=0)
    codec: str
    rotation: Literal[0, 90, 180, 270] = 0
    declared_duration_s: float | None = Field(default=None, ge=0)


class ReportSegment(_Model):
    """A stretch where something moved."""

    id: int
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    activity: float = Field(ge=0, le=1)


class ReportBox(_Model):
    """A labelled box, pixel ``xyxy``."""

    label: str
    xyxy: tuple[float, float, float, float]


class ReportKeyframe(_Model):
    """A keyframe of an event; ``image`` is a path relative to the report folder."""

    t_s: float = Field(ge=0)
    image: str
    boxes: list[ReportBox] = Field(default_factory=list)


class ReportEvent(_Model):
    """One thing that happened."""

    id: int
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    title: str = Field(max_length=120)
    description: str
    threat_level: Literal[0, 1, 2]
    confidence: float = Field(ge=0, le=1)
    source: Literal["vlm", "motion"]
    keyframes: list[ReportKeyframe] = Field(default_factory=list)
    clip: str | None = None
    anomaly_score: float | None = Field(
        default=None, ge=0, exclude_if=lambda v: v is None, description="how unusual for the camera (analyze --camera)"
    )
    anomaly_reason: str | None = Field(default=None, exclude_if=lambda v: v is None)


class ReportAnomaly(_Model):
    """How unusual each analysed moment was for the camera (``analyze --camera``).

    ``curve`` holds ``[time_s, score]`` pairs, times increasing: a point for every analysed frame
    (five a second) in the stretches with activity, and a 0 point where each stretch ends; a
    frame without a point has the score of the last point before it (0 before the first). Scores
    are ≥ 0, higher is more unusual, and compare across videos of the same camera. ``threshold``
    is the camera's normal 99th percentile: above it is unusual.
    """

    camera: str
    threshold: float = Field(ge=0)
    curve: list[tuple[float, float]] = Field(default_factory=list)
    self_calibrated: bool = False


class ScanMode(_Model):
    """Which scan mode ran over which stretch."""

    start_s: float
    end_s: float
    mode: str
    reason: str = ""


class Stats(_Model):
    """How much work the analysis did, and how fast."""

    frames_total: int = 0
    packets_scanned: int = 0
    frames_decoded: int = 0
    frames_to_vlm: int = 0
    vlm_calls: int = 0
    llm_calls: int = 0
    scan_s: float = 0.0
    analysis_s: float = 0.0  # wall time of the analysis, model downloads (download_s) not counted
    realtime_factor: float = 0.0  # video duration / analysis_s
    scan_modes: list[ScanMode] = Field(default_factory=list)
    reused_chunks: int = 0
    download_s: float = 0.0  # waiting for model downloads, retries included (optional: 0 in older reports)
    scanned_to_s: float | None = Field(None, ge=0, description="the scan covered the video up to here")
    scan_resumed_at_s: float | None = Field(None, ge=0, description="this run took up an interrupted scan here")
    describe_layout: Literal["storyboard", "frames"] | None = None  # how chunks were shown (optional)
    vlm_images: int = 0  # images the describer received; a storyboard counts as one (optional)


class Report(_Model):
    """A whole analysis of one video (schema v1)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    veille_version: str = ""
    created_at: str = ""
    complete: bool = True
    video: VideoMeta
    segments: list[ReportSegment] = Field(default_factory=list)
    events: list[ReportEvent] = Field(default_factory=list)
    summary: str = ""
    models: dict[str, ModelInfo | None] = Field(default_factory=dict)
    stats: Stats = Field(default_factory=Stats)
    warnings: list[str] = Field(default_factory=list)
    anomaly: ReportAnomaly | None = Field(default=None, exclude_if=lambda v: v is None)


def json_schema() -> dict:
    """The JSON Schema of :class:`Report`."""
    return Report.model_json_schema()
