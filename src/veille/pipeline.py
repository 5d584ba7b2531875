"""``analyze()``: orchestration only — probe, scan, events, report.

Chunks stream from the scan through the analysis to the report (see :mod:`veille.flow`): keyframes
are written as thumbnails as soon as each chunk is done, and an interruption leaves a partial
report of what was found so far, while the scan's progress stays in the work cache for the next run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.analysis.motion_events import motion_events, motion_summary
from veille.analysis.outcome import EventsOutcome
from veille.errors import AnalysisInterrupted, VideoDecodeError
from veille.flow import ChunkFlow
from veille.i18n import clock
from veille.progress import NullProgress, Progress
from veille.redact import mask_credentials
from veille.report.build import build_report, scan_modes
from veille.report.schema import Report, Stats
from veille.report.thumbs import prune_thumbnails
from veille.report.writers import write_all
from veille.settings import Settings
from veille.types import Chunk, Event, VideoInfo
from veille.video.probe import probe, truncation_warnings
from veille.video.scan import Checkpoint, ScanResult, ScanStream
from veille.workcache import Memo, open_memo

if TYPE_CHECKING:
    from veille.anomaly.profile import CameraProfile
    from veille.anomaly.score import AnomalyCurve
    from veille.models.session import ModelSession

#: Least wall-clock time between two saves of the scan's state in the work cache.
CHECKPOINT_EVERY_S = 0.5


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

    Raises:
        AnalysisInterrupted: on Ctrl-C (or SIGTERM through the CLI), after writing a partial report;
            the scan's progress stays in the work cache and the same call resumes from there.
    """
    settings = settings or Settings()
    progress = progress or NullProgress()
    video = Path(video)
    info = probe(video)
    camera = _camera(info, settings)
    folder = folder or report_folder(settings.out_dir, video)
    started = time.perf_counter()
    memo = open_memo(folder, info, settings)
    flow = ChunkFlow(info, settings, folder, memo, progress, _scan)
    anomaly = _CameraCurve(flow, camera, progress) if camera is not None else None
    facts = anomaly.fact if anomaly is not None else None
    try:
        outcome = _events(flow, settings, progress, memo=memo, models=models, facts=facts)
        _check_decoded(info, flow.result)
        info = flow.info  # once the scan is over: where a cut file really stops
        curve = anomaly.curve() if anomaly is not None else None
    except KeyboardInterrupt:
        partial = _finish(flow.info, flow.result, flow.partial(), settings, folder, started, complete=False)
        raise AnalysisInterrupted(_interrupted(flow.info, flow.result, partial)) from None
    finally:
        flow.close()
        memo.close()
    notes = [*truncation_warnings(info), *memo.warnings]
    for note in notes:
        progress.warn(note)
    outcome.warnings[:0] = notes
    reused_chunks = memo.reused_chunks() or flow.reused
    return _finish(info, flow.result, outcome, settings, folder, started, reused_chunks=reused_chunks, curve=curve)


def _interrupted(info: VideoInfo, scan: ScanResult, partial: AnalysisResult) -> str:
    """The one line for an interruption: how far it got, where the partial report is, how to resume."""
    names = {p.name for p in partial.paths}
    report = partial.folder / ("report.html" if "report.html" in names else "report.json")
    where = "" if scan.complete else f" at {clock(scan.scanned_to_s)} of {clock(info.duration_s)}"
    return f"interrupted{where}; partial report: {report}; run the same command again to resume from there"


def _finish(
    info: VideoInfo,
    scan: ScanResult,
    outcome: EventsOutcome,
    settings: Settings,
    folder: Path,
    started: float,
    *,
    complete: bool = True,
    reused_chunks: int = 0,
    curve: AnomalyCurve | None = None,
) -> AnalysisResult:
    """Build the report (whole, or partial after an interruption), write every format atomically, and
    remove the thumbnails it does not show."""
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
        scanned_to_s=round(info.duration_s if scan.complete else scan.scanned_to_s, 3),
        scan_resumed_at_s=None if scan.resumed_at_s is None else round(scan.resumed_at_s, 3),
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
    prune_thumbnails(folder, report)
    return AnalysisResult(report, folder, paths)


def _check_decoded(info: VideoInfo, scan: ScanResult) -> None:
    """Nothing at all could be read from the video: an error, not an empty report."""
    if scan.frames_decoded == 0 and scan.packets_scanned == 0:
        raise VideoDecodeError(
            f"{info.path}: no frame could be read (damaged or truncated file?); re-export or re-copy the recording"
        )


def _scan(
    info: VideoInfo,
    settings: Settings,
    progress: Progress,
    resume: dict[str, Any] | None,
    checkpoint: Checkpoint | None,
) -> ScanStream:
    """The scan stream (resumed from ``resume`` when given), its progress going to ``progress``."""
    return ScanStream(
        info,
        settings.scan,
        progress=lambda t: progress.update("scan", t),
        checkpoint=checkpoint,
        resume=resume,
        every_s=CHECKPOINT_EVERY_S,
    )


def _camera(info: VideoInfo, settings: Settings) -> CameraProfile | str | None:
    """``analyze --camera``: the camera's profile, checked against the video before the scan."""
    if not settings.camera:
        return None
    from veille.anomaly.analysis import camera_for
    from veille.anomaly.store import CameraStore

    return camera_for(info, settings.camera, CameraStore(settings.cameras_dir))


class _CameraCurve:
    """``analyze --camera``: how unusual each active moment is for the camera, scored once the scan
    is over (it needs every segment), the first time the judge or the report asks for it."""

    def __init__(self, flow: ChunkFlow, camera: CameraProfile | str, progress: Progress) -> None:
        self.flow, self.camera, self.progress = flow, camera, progress
        self._curve: AnomalyCurve | None = None

    def curve(self) -> AnomalyCurve:
        """The curve over the scan's segments (scored on the first call)."""
        if self._curve is None:
            if not self.flow.result.complete:
                raise RuntimeError("the anomaly curve needs the whole scan; it was asked for before the scan ended")
            from veille.anomaly.analysis import anomaly_curve

            self._curve = anomaly_curve(self.flow.info, self.flow.result.segments, self.camera, self.progress)
        return self._curve

    def fact(self, start_s: float, end_s: float) -> str:
        """The judge's line about the chunk ``[start_s, end_s]``."""
        from veille.anomaly.analysis import chunk_fact

        return chunk_fact(self.curve(), start_s, end_s)


def _events(
    flow: ChunkFlow,
    settings: Settings,
    progress: Progress,
    *,
    memo: Memo | None = None,
    models: ModelSession | None = None,
    facts: Callable[[float, float], str] | None = None,
) -> EventsOutcome:
    """Events of the flow's chunks; model stages store and reuse per-chunk work through ``memo``.

    The session is told when the video is done; it frees what its lifetime says. ``facts`` tells the
    judge how usual each chunk is for the camera (``analyze --camera``).
    """
    if settings.profile == "motion":
        for chunk in flow.chunks():
            flow.store.keep(chunk)
            del chunk  # its images go before the next chunk is decoded
        return _motion_outcome(flow.info, flow.store.chunks, settings)
    from veille.analysis.engine import run_models
    from veille.models.session import ModelSession

    warnings: list[str] = []
    with nullcontext(models) if models is not None else ModelSession(settings) as session:
        session.rebind(progress=progress, warnings=warnings)
        fetched_before = session.download_s
        try:
            outcome = run_models(
                lambda: flow.info,
                flow.chunks(),
                settings,
                session,
                progress=progress,
                memo=memo,
                keyframes=flow.store,
                facts=facts,
            )
        finally:
            session.video_done()
        model_info = session.info()
        download_s = session.download_s - fetched_before
    outcome.warnings[:0] = warnings
    if not any(c.keyframes for c in flow.store.chunks):  # nothing to describe: no model was needed
        outcome = _motion_outcome(flow.info, flow.store.chunks, settings, warnings)
    elif not outcome.vlm_calls and not outcome.events:  # no describer could be had: motion-only
        warning = f"profile '{settings.profile}': no describer model available; motion-only events"
        progress.warn(warning)
        outcome = _motion_outcome(flow.info, flow.store.chunks, settings, [*warnings, warning])
        outcome.models = model_info
    outcome.download_s = download_s
    return outcome


def _motion_outcome(
    info: VideoInfo, chunks: list[Chunk], settings: Settings, warnings: list[str] | None = None
) -> EventsOutcome:
    """Events from motion facts alone, one per segment."""
    chunks = sorted(chunks, key=lambda c: c.id)
    motion = motion_events(
        chunks, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk, lang=settings.lang
    )
    return EventsOutcome(motion, summary=_motion_summary(info, motion, settings.lang), warnings=list(warnings or []))


def _motion_summary(info: VideoInfo, events: list[Event], lang: str = "en") -> str:
    return motion_summary(info.duration_s, events, lang=lang)
