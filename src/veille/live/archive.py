"""Live events on disk: one report per camera and day, ``OUT/<camera>/<date>/report.json``, in the index.

The day's report is a schema-v1 report whose "video" is the camera's day: event times are seconds
since local midnight, ``video.path`` names ``<camera>_<YYYYMMDD>_000000.live`` in the folder (the
index reads the camera and the day's start from that name). Each event has its clip (copied
packets) under ``clips/`` and its thumbnails under ``thumbs/``. The report is rewritten atomically
and the folder indexed after every change, so ``search`` sees live events as soon as they end.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from veille import __version__
from veille.archive.service import index_report
from veille.report.build import THUMBS_DIR
from veille.report.schema import Report, ReportEvent, VideoMeta
from veille.report.writers import write_json

CLIPS_DIR = "clips"
#: What the models say about an event, kept when its motion-only version is written again at its end.
MODEL_FIELDS = ("title", "description", "source", "threat_level", "confidence")


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What the camera's stream is (for the report's video block)."""

    width: int
    height: int
    fps: float
    codec: str


def midnight(ts: float) -> float:
    """Local midnight before POSIX time ``ts``."""
    day = datetime.fromtimestamp(ts)
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class DayArchive:
    """The report folders of one output folder's live cameras; thread-safe (one lock for all)."""

    def __init__(self, out_dir: Path, warn: Any = None) -> None:
        self.out_dir = Path(out_dir).resolve()
        self.warn = warn or (lambda message: None)
        self._lock = threading.Lock()
        self._days: dict[tuple[str, str], Report] = {}

    def folder(self, camera: str, ts: float) -> Path:
        """``OUT/<camera>/<YYYY-MM-DD>`` of the day holding ``ts``."""
        return self.out_dir / camera / datetime.fromtimestamp(ts).strftime("%Y-%m-%d")

    def stem(self, camera: str, ts: float) -> str:
        """A file name stem for an event starting at ``ts``: ``<camera>_<YYYYMMDD>_<HHMMSS>``."""
        return f"{camera}_{datetime.fromtimestamp(ts).strftime('%Y%m%d_%H%M%S')}"

    def clip_path(self, camera: str, ts: float, number: int) -> Path:
        """Where the clip of event ``number`` starting at ``ts`` goes."""
        return self.folder(camera, ts) / CLIPS_DIR / f"{self.stem(camera, ts)}_{number:03d}.mp4"

    def thumbs_dir(self, camera: str, ts: float) -> Path:
        """Where an event's thumbnails go."""
        return self.folder(camera, ts) / THUMBS_DIR

    def next_number(self, camera: str, ts: float, facts: StreamFacts) -> int:
        """The id the next event of ``camera`` on ``ts``'s day gets."""
        with self._lock:
            report = self._day(camera, ts, facts)
            return max((e.id for e in report.events), default=-1) + 1

    def add(self, camera: str, ts: float, event: ReportEvent, facts: StreamFacts) -> None:
        """Add (or replace, same id) an event of the day holding ``ts`` and write the report and the index."""
        with self._lock:
            report = self._day(camera, ts, facts)
            before = next((e for e in report.events if e.id == event.id), None)
            if before is not None and before.source == "vlm" and event.source == "motion":
                event = event.model_copy(update={k: getattr(before, k) for k in MODEL_FIELDS})  # keep the models' words
            events = [e for e in report.events if e.id != event.id] + [event]
            events.sort(key=lambda e: (e.start_s, e.id))
            end = max(e.end_s for e in events)
            video = report.video.model_copy(update={"duration_s": max(report.video.duration_s, end)})
            report = report.model_copy(update={"events": events, "video": video, "segments": []})
            self._days[(camera, self._date(ts))] = report
            self._write(camera, ts, report)

    def event(self, camera: str, ts: float, number: int) -> ReportEvent | None:
        """Event ``number`` of the day holding ``ts`` as the report has it now."""
        with self._lock:
            report = self._days.get((camera, self._date(ts)))
            return next((e for e in report.events if e.id == number), None) if report is not None else None

    def update(self, camera: str, ts: float, number: int, fields: dict[str, Any]) -> ReportEvent | None:
        """Change fields of event ``number`` (after the models saw it); the updated event, or None if gone."""
        with self._lock:
            report = self._days.get((camera, self._date(ts)))
            if report is None:
                return None
            events = [e.model_copy(update=fields) if e.id == number else e for e in report.events]
            report = report.model_copy(update={"events": events})
            self._days[(camera, self._date(ts))] = report
            self._write(camera, ts, report)
            return next((e for e in events if e.id == number), None)

    def _date(self, ts: float) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")

    def _day(self, camera: str, ts: float, facts: StreamFacts) -> Report:
        key = (camera, self._date(ts))
        if key in self._days:
            return self._days[key]
        folder = self.folder(camera, ts)
        report = None
        path = folder / "report.json"
        if path.is_file():
            try:
                report = Report.model_validate_json(path.read_bytes())
            except ValueError:
                bad = path.with_name(f"report.unreadable-{int(ts)}.json")
                path.replace(bad)
                self.warn(f"{path} could not be read; kept as {bad.name}, starting a new report for the day")
        if report is None:
            report = _new_report(folder, camera, ts, facts)
        self._days[key] = report
        return report

    def _write(self, camera: str, ts: float, report: Report) -> None:
        folder = self.folder(camera, ts)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(report, folder)
        warning = index_report(self.out_dir, f"{camera}/{self._date(ts)}")
        if warning:
            self.warn(warning)


def _new_report(folder: Path, camera: str, ts: float, facts: StreamFacts) -> Report:
    day = datetime.fromtimestamp(ts).strftime("%Y%m%d")
    video = VideoMeta(
        path=str(folder / f"{camera}_{day}_000000.live"),
        duration_s=0.0,
        fps=round(facts.fps, 3),
        width=facts.width,
        height=facts.height,
        frame_count=0,
        codec=facts.codec,
    )
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    return Report(veille_version=__version__, created_at=created, complete=True, video=video, events=[])
