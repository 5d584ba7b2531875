"""What a page shows beyond the index: read from the report folder the index names (never from the URL).

The index keeps what search needs; the video's stretches of movement, its anomaly curve, the
keyframes' boxes, the clip and the models are in ``report.json`` beside it. Every file path read here
is joined to the report folder and must stay inside it.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veille.archive.reports import REPORT_FILE

#: At most this many points of the anomaly curve are drawn (the highest of each bucket kept).
CURVE_POINTS = 600
#: Reports whose details are kept in memory (the pages a person goes back and forth between).
CACHED_REPORTS = 32
_CACHE: OrderedDict[tuple[str, int, int], ReportDetails] = OrderedDict()
_LOCK = threading.Lock()


@dataclass(slots=True)
class ReportDetails:
    """The parts of one report the pages show that the index does not keep."""

    codec: str = ""
    width: int = 0
    height: int = 0
    segments: list[tuple[float, float]] = field(default_factory=list)
    curve: list[tuple[float, float]] = field(default_factory=list)
    threshold: float | None = None
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


def inside(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` when it is a file inside ``folder`` (no ``..``, no absolute path), else None."""
    if not relative or Path(relative).is_absolute():
        return None
    try:
        path = (folder / relative).resolve()
        path.relative_to(folder.resolve())
    except (OSError, ValueError):
        return None
    return path if path.is_file() else None


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def downsample(raw: Any, points: int = CURVE_POINTS) -> list[tuple[float, float]]:
    """The ``[time, score]`` pairs of ``raw`` (the report's curve; anything else: none), at most ``points``
    of them: each bucket of consecutive points is drawn at its start with its highest score."""
    try:
        curve = np.asarray(raw if isinstance(raw, list) else [], dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        return []
    curve = curve[np.isfinite(curve).all(axis=1)]
    if len(curve) > points:
        starts = np.linspace(0, len(curve), points, endpoint=False).astype(np.int64)
        curve = np.stack([curve[starts, 0], np.maximum.reduceat(curve[:, 1], starts)], axis=1)
    return [(float(t), float(s)) for t, s in curve]


def read_details(folder: Path) -> ReportDetails:
    """The details of the report in ``folder`` (empty ones when it cannot be read); the last few are kept
    in memory until their file changes."""
    try:
        info = (folder / REPORT_FILE).stat()
    except OSError:
        return ReportDetails()
    key = (str(folder), info.st_mtime_ns, info.st_size)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    details = _read(folder)
    with _LOCK:
        _CACHE[key] = details
        while len(_CACHE) > CACHED_REPORTS:
            _CACHE.popitem(last=False)
    return details


def _read(folder: Path) -> ReportDetails:
    try:
        data = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ReportDetails()
    if not isinstance(data, dict):
        return ReportDetails()
    given = data.get("video")
    video: dict[str, Any] = given if isinstance(given, dict) else {}
    found = data.get("anomaly")
    anomaly: dict[str, Any] = found if isinstance(found, dict) else {}
    segments = [(_float(s.get("start_s")), _float(s.get("end_s"))) for s in data.get("segments") or []
                if isinstance(s, dict)]  # fmt: skip
    models = {str(role): str(info.get("id")) for role, info in (data.get("models") or {}).items()
              if isinstance(info, dict) and info.get("id")}  # fmt: skip
    events = {}
    for raw in data.get("events") or []:
        if isinstance(raw, dict) and isinstance(raw.get("id"), int):
            events[raw["id"]] = raw
    return ReportDetails(
        codec=str(video.get("codec", "")),
        width=int(_float(video.get("width"))),
        height=int(_float(video.get("height"))),
        segments=segments,
        curve=downsample(anomaly.get("curve")),
        threshold=_float(anomaly.get("threshold"), -1.0) if anomaly else None,
        events=events,
        models=models,
    )


def keyframes(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """An event's keyframes as the event page draws them: time, image and boxes (label, x, y, w, h)."""
    frames = []
    for k in raw.get("keyframes") or []:
        if not isinstance(k, dict) or not isinstance(k.get("image"), str):
            continue
        boxes = []
        for box in k.get("boxes") or []:
            xyxy = box.get("xyxy") if isinstance(box, dict) else None
            if isinstance(xyxy, list) and len(xyxy) == 4 and all(isinstance(v, int | float) for v in xyxy):
                x0, y0, x1, y1 = (float(v) for v in xyxy)
                boxes.append({"label": str(box.get("label", "")), "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
        frames.append({"t_s": _float(k.get("t_s")), "image": k["image"], "boxes": boxes})
    return frames
