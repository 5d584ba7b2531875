"""``analyze()``: orchestration only — probe, scan, events, report."""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from veille.analysis.motion_events import motion_events, motion_summary
from veille.analysis.outcome import EventsOutcome
from veille.errors import AnalysisInterrupted, VideoDecodeError
from veille.progress import NullProgress, Progress
from veille.redact import mask_credentials
from veille.report.build import build_report, scan_modes
from veille.report.schema import Report, Stats
from veille.report.writers import write_all
from veille.settings import Settings
from veille.types import Event, VideoInfo
from veille.video.probe import played_to, probe, truncation_warnings
from veille.video.scan import ScanResult, scan_video
from veille.workcache import Memo, open_memo, scan_with_memo

if TYPE_CHECKING:
    from veille.anomaly.score import AnomalyCurve
    from veille.models.session import ModelSession


@dataclass(slots=True)
class AnalysisResult:
    """A finished analysis: the report, where it was written, and the files written."""

    report: Report
    folder: Path
    paths: list[Path] = field(default_factory=list)


def safe_name(name: str) -> str:
    """A folder name that cannot escape its parent: no separators, no leading dots."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).lstrip(".")
    return cleaned[:120] or "video"


def report_folder(out_dir: Path, video: Path) -> Path:
    """``OUT/<video stem>``, sanitised."""
    return Path(out_dir) / safe_name(Path(video).stem)


def analyze(
    video: Path | str,
    settings: Settings | None = None,
    *,
    progress: Progress | None = None,
    folder: Path | None = None,
    models: ModelSession | None = None,
) -> AnalysisResult:
    """Analyse one video and write its report.

    Args:
        video: the video file.
        settings: the analysis settings (defaults when omitted).
        progress: receives progress and warnings (nothing is printed by the library).
        folder: where to write the report (default ``settings.out_dir / <video stem>``).
        models: the model session of a run of several videos (its lifetime decides whether models
            stay loaded from one video to the next); by default the analysis has its own.
    """
    settings = settings or Settings()
    progress = progress or NullProgress()
    video = Path(video)
    info = probe(video)
    camera = _camera(info, settings)
    folder = folder or report_folder(settings.out_dir, video)
    started = time.perf_counter()
    memo = open_memo(folder, info, settings)
    scan: ScanResult | None = None
    curve: AnomalyCurve | None = None
    try:
        scan, reused = scan_with_memo(memo, info, lambda: _scan(info, settings, progress))
        _check_decoded(info, scan)
        info = played_to(info, scan.end_s)
        curve = _anomaly(info, scan, camera, progress)
        outcome = _events(info, scan, settings, progress, memo=memo, models=models, curve=curve)
    except KeyboardInterrupt:
        _finish(info, scan, _partial_outcome(info, scan, settings), settings, folder, started, complete=False)
        raise AnalysisInterrupted(
            f"interrupted; partial report in {folder}; run the same command again to resume"
        ) from None
    finally:
        memo.close()
    notes = [*truncation_warnings(info), *memo.warnings]
    for note in notes:
        progress.warn(note)
    outcome.warnings[:0] = notes
    reused_chunks = memo.reused_chunks() or (len(scan.chunks) if reused else 0)
    return _finish(info, scan, outcome, settings, folder, started, reused_chunks=reused_chunks, curve=curve)


def _finish(
    info: VideoInfo,
    scan: ScanResult | None,
    outcome: EventsOutcome,
    settings: Settings,
    folder: Path,
    started: float,
    *,
    complete: bool = True,
    reused_chunks: int = 0,
    curve: AnomalyCurve | None = None,
) -> AnalysisResult:
    """Build the report (whole, or partial after an interruption) and write every format atomically."""
    scan = scan or ScanResult()
    elapsed = max(0.0, time.perf_counter() - started - outcome.download_s)  # downloads are reported apart
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
        reused_chunks=reused_chunks,
        download_s=round(outcome.download_s, 3),
        describe_layout=outcome.describe_layout,
        vlm_images=outcome.vlm_images,
    )
    report = build_report(
        info=info,
        segments=scan.segments,
        events=outcome.events,
        folder=folder,
        stats=stats,
        summary=outcome.summary,
        models=outcome.models,
        warnings=[mask_credentials(w) for w in [*scan.warnings, *outcome.warnings]],
        complete=complete,
    )
    if curve is not None:  # analyze --camera
        from veille.anomaly.analysis import with_anomaly

        report = with_anomaly(report, curve, settings.lang)
    if settings.clips and complete:
        from veille.report.clips import add_clips

        report = add_clips(report, info.path, folder)[0]
    paths = write_all(report, folder, settings.formats, lang=settings.lang)
    return AnalysisResult(report, folder, paths)


def _check_decoded(info: VideoInfo, scan: ScanResult) -> None:
    """Nothing at all could be read from the video: an error, not an empty report."""
    if scan.frames_decoded == 0 and scan.packets_scanned == 0:
        raise VideoDecodeError(
            f"{info.path}: no frame could be read (damaged or truncated file?); re-export or re-copy the recording"
        )


def _partial_outcome(info: VideoInfo, scan: ScanResult | None, settings: Settings) -> EventsOutcome:
    """What an interrupted analysis can still report: motion events when the scan had finished."""
    where = "during the scan" if scan is None else "during the analysis of events"
    warning = f"interrupted {where}; this report is incomplete (run the same command again to resume)"
    if scan is None:
        return EventsOutcome([], summary="Analysis interrupted before the scan finished.", warnings=[warning])
    motion = motion_events(
        scan.chunks, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk, lang=settings.lang
    )
    return EventsOutcome(motion, summary=_motion_summary(info, motion, settings.lang), warnings=[warning])


def _camera(info: VideoInfo, settings: Settings) -> object | None:
    """``analyze --camera``: the camera's profile, checked against the video before the scan."""
    if not settings.camera:
        return None
    from veille.anomaly.analysis import camera_for
    from veille.anomaly.store import CameraStore

    return camera_for(info, settings.camera, CameraStore(settings.cameras_dir))


def _anomaly(info: VideoInfo, scan: ScanResult, camera: object | None, progress: Progress) -> AnomalyCurve | None:
    """How unusual each active moment is for the camera (None without one)."""
    if camera is None:
        return None
    from veille.anomaly.analysis import anomaly_curve

    return anomaly_curve(info, scan.segments, camera, progress)


def _scan(info: VideoInfo, settings: Settings, progress: Progress) -> ScanResult:
    progress.start("scan", info.duration_s, unit="s")
    scan = scan_video(info, settings.scan, progress=lambda t: progress.update("scan", t))
    progress.finish("scan")
    for warning in scan.warnings:
        progress.warn(warning)
    return scan


def _events(
    info: VideoInfo,
    scan: ScanResult,
    settings: Settings,
    progress: Progress,
    *,
    memo: Memo | None = None,
    models: ModelSession | None = None,
    curve: AnomalyCurve | None = None,
) -> EventsOutcome:
    """Events of the chunks; model stages store and reuse per-chunk work through ``memo``.

    The session is told when the video is done; it frees what its lifetime says.
    """
    chunks = scan.chunks
    motion = motion_events(
        chunks, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk, lang=settings.lang
    )
    if settings.profile == "motion" or not any(c.keyframes for c in chunks):
        return EventsOutcome(motion, summary=_motion_summary(info, motion, settings.lang))
    from veille.analysis.engine import run_models
    from veille.anomaly.analysis import judge_facts
    from veille.models.session import ModelSession

    warnings: list[str] = []
    facts = judge_facts(curve)
    with nullcontext(models) if models is not None else ModelSession(settings) as session:
        session.rebind(progress=progress, warnings=warnings)
        fetched_before = session.download_s
        try:
            outcome = run_models(info, chunks, settings, session, progress=progress, memo=memo, facts=facts)
        finally:
            session.video_done()
        model_info = session.info()
        download_s = session.download_s - fetched_before
    outcome.warnings[:0] = warnings
    if not outcome.vlm_calls and not outcome.events:  # no describer could be had: motion-only
        warning = f"profile '{settings.profile}': no describer model available; motion-only events"
        progress.warn(warning)
        outcome = EventsOutcome(
            motion,
            summary=_motion_summary(info, motion, settings.lang),
            models=model_info,
            warnings=[*warnings, warning],
        )
    outcome.download_s = download_s
    return outcome


def _motion_summary(info: VideoInfo, events: list[Event], lang: str = "en") -> str:
    return motion_summary(info.duration_s, events, lang=lang)
