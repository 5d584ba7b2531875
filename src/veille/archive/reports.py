"""Read what the index keeps from a report folder's ``report.json`` (schema v1), tolerantly.

Only the fields the index uses are checked, so a v1 report from a newer veille (with new optional
fields) is read; a report of another schema, or not a veille report at all, raises
:class:`UnknownReport` and is skipped by the indexer with a warning.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veille.archive.videotime import VideoStart, camera_name, video_start
from veille.folders import SOURCE_FILE

REPORT_FILE = "report.json"
KNOWN_SCHEMAS = (1,)


class UnknownReport(ValueError):
    """A report the index cannot read (another schema, damaged, not a report); the message says why."""


@dataclass(slots=True)
class EventRow:
    """One event as the index keeps it; keyframe paths are relative to the output folder."""

    number: int
    start_s: float
    end_s: float
    title: str
    description: str
    threat: int
    confidence: float | None
    anomaly: float | None
    source: str
    keyframes: list[str] = field(default_factory=list)

    @property
    def thumbnail(self) -> str | None:
        """The event's first keyframe image (relative to the output folder), if any."""
        return self.keyframes[0] if self.keyframes else None

    def text(self) -> str:
        """What is embedded and searched: the title, then the description."""
        title, description = self.title.strip(), self.description.strip()
        if not title or description.lower().startswith(title.lower()):
            return description or title
        return f"{title}. {description}" if description else title


@dataclass(slots=True)
class VideoRow:
    """One analysed video: its report folder (name under the output folder), source and events."""

    folder: str
    path: str
    camera: str | None
    start: VideoStart
    duration_s: float
    complete: bool
    events: list[EventRow]


def _number(value: Any, what: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnknownReport(f"{what} is not a number")
    return float(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise UnknownReport(f"{what} is not text")
    return value


def _event(raw: Any, n: int, folder: str) -> EventRow:
    if not isinstance(raw, dict):
        raise UnknownReport(f"event {n} is not an object")
    threat = raw.get("threat_level")
    if threat not in (0, 1, 2) or isinstance(threat, bool):
        raise UnknownReport(f"event {n} has no threat_level 0, 1 or 2")
    frames = raw.get("keyframes") or []
    images = [k["image"] for k in frames if isinstance(k, dict) and isinstance(k.get("image"), str)]
    number = raw.get("id")
    return EventRow(
        number=number if isinstance(number, int) and not isinstance(number, bool) else n,
        start_s=_number(raw.get("start_s"), f"event {n} start_s") or 0.0,
        end_s=_number(raw.get("end_s"), f"event {n} end_s") or 0.0,
        title=_text(raw.get("title"), f"event {n} title"),
        description=_text(raw.get("description", ""), f"event {n} description"),
        threat=int(threat),
        confidence=_number(raw.get("confidence"), f"event {n} confidence", optional=True),
        anomaly=_number(raw.get("anomaly_score"), f"event {n} anomaly_score", optional=True),
        source=str(raw.get("source", "")),
        keyframes=[f"{folder}/{image}" for image in images],
    )


def read_report(folder: Path, name: str | None = None) -> VideoRow:
    """The index's view of the report in ``folder`` (named ``name`` in the index, default its folder name).

    Raises:
        UnknownReport: the report is unreadable, of an unknown schema, or lacks a field the index needs.
    """
    try:
        data = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UnknownReport(f"cannot read it ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise UnknownReport("it is not a JSON object")
    schema = data.get("schema_version")
    if schema not in KNOWN_SCHEMAS or isinstance(schema, bool):
        raise UnknownReport(f"schema_version {schema!r} is not one this veille knows ({KNOWN_SCHEMAS[-1]})")
    video, events = data.get("video"), data.get("events")
    if not isinstance(video, dict) or not isinstance(events, list):
        raise UnknownReport("it has no video or no events list")
    duration = _number(video.get("duration_s"), "video duration_s") or 0.0
    path = _source(folder) or _text(video.get("path"), "video path")
    found = data.get("anomaly")
    anomaly: dict[str, Any] = found if isinstance(found, dict) else {}
    named = anomaly.get("camera") if not anomaly.get("self_calibrated") else None
    name = name or folder.name
    return VideoRow(
        folder=name,
        path=path,
        camera=camera_name(Path(path), named if isinstance(named, str) else None),
        start=video_start(Path(path), duration),
        duration_s=duration,
        complete=bool(data.get("complete", True)),
        events=[_event(raw, n, name) for n, raw in enumerate(events)],
    )


def _source(folder: Path) -> str | None:
    """The absolute path of the video, from the folder's owner mark."""
    try:
        return (folder / SOURCE_FILE).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None
