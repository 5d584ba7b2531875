"""Assemble a schema-v1 :class:`Report` from the pipeline's core types, saving thumbnails."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from veille import __version__
from veille.report.evidence import draw_boxes, save_jpeg
from veille.report.schema import (
    ModelInfo,
    Report,
    ReportBox,
    ReportEvent,
    ReportKeyframe,
    ReportSegment,
    ScanMode,
    Stats,
    VideoMeta,
)
from veille.types import Event, Keyframe, ScanStretch, Segment, VideoInfo

THUMBS_DIR = "thumbs"


def video_meta(info: VideoInfo) -> VideoMeta:
    """The report's view of a probed video."""
    declared = info.declared_duration_s
    return VideoMeta(
        path=str(info.path),
        duration_s=round(info.duration_s, 3),
        fps=round(info.fps, 3),
        width=info.width,
        height=info.height,
        frame_count=info.frame_count,
        codec=info.codec,
        rotation=info.rotation,
        declared_duration_s=None if declared is None else round(declared, 3),
    )


def _within(t_s: float, end_s: float) -> float:
    """``t_s`` no later than the end of the video (``end_s``; 0 when unknown), rounded."""
    return round(min(t_s, end_s) if end_s > 0 else t_s, 3)


def report_segments(segments: Sequence[Segment], end_s: float = 0.0) -> list[ReportSegment]:
    """Segments as the report shows them, none reaching past ``end_s`` (the end of the video)."""
    return [
        ReportSegment(
            id=s.id, start_s=_within(s.start_s, end_s), end_s=_within(s.end_s, end_s), activity=round(s.activity, 3)
        )
        for s in segments
    ]


def report_event(event: Event, folder: Path, end_s: float = 0.0) -> ReportEvent:
    """An event with its keyframes saved under ``folder/thumbs``; it ends by ``end_s`` (the video's end)."""
    return ReportEvent(
        id=event.id,
        start_s=_within(event.start_s, end_s),
        end_s=_within(event.end_s, end_s),
        title=event.title,
        description=event.description,
        threat_level=event.threat_level,
        confidence=round(min(1.0, max(0.0, event.confidence)), 3),
        source=event.source,
        keyframes=[_keyframe(event.id, i, k, folder) for i, k in enumerate(event.keyframes)],
    )


def _keyframe(event_id: int, index: int, keyframe: Keyframe, folder: Path) -> ReportKeyframe:
    name = f"{THUMBS_DIR}/event{event_id:03d}_{index}_{keyframe.t_s:09.3f}.jpg"
    save_jpeg(folder / name, draw_boxes(keyframe.image, keyframe.boxes))
    boxes = [ReportBox(label=b.label, xyxy=tuple(round(v, 1) for v in b.xyxy)) for b in keyframe.boxes]
    return ReportKeyframe(t_s=round(keyframe.t_s, 3), image=name, boxes=boxes)


def scan_modes(stretches: Sequence[ScanStretch]) -> list[ScanMode]:
    """Which scan mode ran where."""
    return [
        ScanMode(start_s=round(s.start_s, 3), end_s=round(s.end_s, 3), mode=s.mode, reason=s.reason) for s in stretches
    ]


def build_report(
    *,
    info: VideoInfo,
    segments: Sequence[Segment],
    events: Sequence[Event],
    folder: Path,
    stats: Stats,
    summary: str = "",
    models: dict[str, ModelInfo | None] | None = None,
    warnings: Sequence[str] = (),
    complete: bool = True,
) -> Report:
    """The whole report; keyframe images are written under ``folder`` as a side effect.

    Nothing in it ends after the video does (``info.duration_s``, what the file really holds).
    """
    return Report(
        veille_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        complete=complete,
        video=video_meta(info),
        segments=report_segments(segments, info.duration_s),
        events=[report_event(e, folder, info.duration_s) for e in events],
        summary=summary,
        models=models or {},
        stats=stats,
        warnings=list(dict.fromkeys(warnings)),
    )
