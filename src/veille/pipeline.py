"""``analyze()``: orchestration only — probe, scan, events, report."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from veille.analysis.motion_events import motion_events
from veille.progress import NullProgress, Progress
from veille.report.build import build_report, scan_modes
from veille.report.schema import ModelInfo, Report, Stats
from veille.report.writers import write_all
from veille.settings import Settings
from veille.types import Event, VideoInfo
from veille.video.probe import probe
from veille.video.scan import ScanResult, scan_video


@dataclass(slots=True)
class AnalysisResult:
    """A finished analysis: the report, where it was written, and the files written."""

    report: Report
    folder: Path
    paths: list[Path] = field(default_factory=list)


@dataclass(slots=True)
class EventsOutcome:
    """What the event stage produced."""

    events: list[Event]
    summary: str = ""
    models: dict[str, ModelInfo | None] = field(default_factory=dict)
    vlm_calls: int = 0
    llm_calls: int = 0
    frames_to_vlm: int = 0
    warnings: list[str] = field(default_factory=list)


def safe_name(name: str) -> str:
    """A folder name that cannot escape its parent: no separators, no leading dots."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).lstrip(".")
    return cleaned[:120] or "video"


def report_folder(out_dir: Path, video: Path) -> Path:
    """``OUT/<video stem>``, sanitised."""
    return Path(out_dir) / safe_name(Path(video).stem)


def analyze(
    video: Path | str, settings: Settings | None = None, *, progress: Progress | None = None, folder: Path | None = None
) -> AnalysisResult:
    """Analyse one video and write its report.

    Args:
        video: the video file.
        settings: the analysis settings (defaults when omitted).
        progress: receives progress and warnings (nothing is printed by the library).
        folder: where to write the report (default ``settings.out_dir / <video stem>``).
    """
    settings = settings or Settings()
    progress = progress or NullProgress()
    video = Path(video)
    info = probe(video)
    folder = folder or report_folder(settings.out_dir, video)
    started = time.perf_counter()
    scan = _scan(info, settings, progress)
    outcome = _events(info, scan, settings, progress)
    elapsed = time.perf_counter() - started
    stats = Stats(
        frames_total=info.frame_count,
        packets_scanned=scan.packets_scanned,
        frames_decoded=scan.frames_decoded,
        frames_to_vlm=outcome.frames_to_vlm,
        vlm_calls=outcome.vlm_calls,
        llm_calls=outcome.llm_calls,
        scan_s=round(scan.scan_s, 3),
        analysis_s=round(elapsed, 3),
        realtime_factor=round(info.duration_s / elapsed, 2) if elapsed > 0 else 0.0,
        scan_modes=scan_modes(scan.stretches),
    )
    report = build_report(
        info=info,
        segments=scan.segments,
        events=outcome.events,
        folder=folder,
        stats=stats,
        summary=outcome.summary,
        models=outcome.models,
        warnings=[*scan.warnings, *outcome.warnings],
    )
    paths = write_all(report, folder, settings.formats)
    return AnalysisResult(report, folder, paths)


def _scan(info: VideoInfo, settings: Settings, progress: Progress) -> ScanResult:
    progress.start("scan", info.duration_s, unit="s")
    scan = scan_video(info, settings.scan, progress=lambda t: progress.update("scan", t))
    progress.finish("scan")
    for warning in scan.warnings:
        progress.warn(warning)
    return scan


def _events(info: VideoInfo, scan: ScanResult, settings: Settings, progress: Progress) -> EventsOutcome:
    chunks = scan.chunks
    motion = motion_events(chunks, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk)
    if settings.profile == "motion":
        return EventsOutcome(motion, summary=_motion_summary(info, motion))
    warning = f"profile '{settings.profile}': model analysis is not available in this build; motion-only events"
    progress.warn(warning)
    return EventsOutcome(motion, summary=_motion_summary(info, motion), warnings=[warning])


def _motion_summary(info: VideoInfo, events: list[Event]) -> str:
    if not events:
        return f"No movement found in {info.duration_s:.0f} s of video."
    active = sum(e.end_s - e.start_s for e in events)
    return (
        f"{len(events)} stretch(es) of movement, {active:.0f} s in all, "
        f"in {info.duration_s:.0f} s of video (motion analysis only, no model)."
    )
