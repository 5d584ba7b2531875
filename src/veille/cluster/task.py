"""One video's analysis as a Ray task: the local pipeline, in a scratch copy of its report folder.

The task stages what the report folder already holds (the work cache and thumbnails of an earlier,
interrupted run), runs :func:`veille.pipeline.analyze` there with the model workers' session, and
sends every file of the folder back to the driver. A task killed with its worker leaves nothing in
the output folder; Ray runs it again.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from veille.cluster.files import fetch, is_url, stage_folder
from veille.cluster.hub import HubProgress

if TYPE_CHECKING:
    from veille.models.session import ModelSession

#: How many times a task whose worker died is run again.
TASK_RETRIES = 3
#: The CPUs each video's task asks Ray for (and sizes its decoder threads by).
TASK_CPUS = 1


@dataclass(slots=True)
class VideoJob:
    """What a task needs: the video, its report folder's name and files, the settings, the actors."""

    index: int
    source: str  # a path (the same on every node) or a URL
    folder: str  # the report folder's name under the output folder
    settings: Any
    files: dict[str, bytes] = field(default_factory=dict)
    worker: Any = None  # the model worker serving this video (None: motion profile)
    hub: Any = None


@dataclass(slots=True)
class VideoDone:
    """What came of a task: status, the report folder's files, the report's figures for the index."""

    index: int
    status: Literal["ok", "failed", "interrupted"]
    files: dict[str, bytes]
    error: str | None = None
    events: int = 0
    max_threat: int | None = None
    duration_s: float | None = None
    complete: bool = False
    warnings: list[str] = field(default_factory=list)
    scan_s: float = 0.0  # the scan's own time (the benchmark's per-video cost)
    task_s: float = 0.0  # the task's time, from start to files read back
    analyze_s: float = 0.0  # the time in the local pipeline's analyze() (task_s less it: the task's overhead)
    stage_dir: str = ""  # where the task worked (named in messages, replaced by the real folder)


def analyze_video(job: VideoJob) -> VideoDone:
    """Run the local pipeline on one video in a scratch folder; its files and figures."""
    started = time.perf_counter()
    share_cpus(TASK_CPUS)
    with tempfile.TemporaryDirectory(prefix="veille-task-") as scratch:
        folder = Path(scratch) / job.folder
        folder.mkdir()
        stage_folder(job.files, folder)
        progress = HubProgress(job.hub, job.index)
        done = _run(job, Path(scratch), folder, progress)
        done.warnings = progress.warnings
        from veille.cluster.files import read_folder

        done.files = read_folder(folder)
        done.stage_dir = str(folder)
    if job.hub is not None:
        job.hub.done.remote(job.index)
    done.task_s = time.perf_counter() - started
    return done


def share_cpus(cpus: float) -> None:
    """Size this worker's decoder threads by its task's CPUs, not by every core of the node."""
    from veille import cpus as budget

    os.environ[budget.ENV] = str(max(1, int(cpus)))


def _run(job: VideoJob, scratch: Path, folder: Path, progress: HubProgress) -> VideoDone:
    from veille.errors import AnalysisInterrupted, VeilleError
    from veille.pipeline import analyze
    from veille.redact import mask_credentials

    session = None
    if job.worker is not None:
        from veille.cluster.remote import RemoteSession

        session = RemoteSession(job.worker, job.settings)
    try:
        video = fetch(job.source, scratch) if is_url(job.source) else Path(job.source)
        started = time.perf_counter()
        models = cast("ModelSession | None", session)  # a RemoteSession has a ModelSession's interface
        result = analyze(video, job.settings, progress=progress, folder=folder, models=models)
        analyze_s = time.perf_counter() - started
    except AnalysisInterrupted as exc:
        return VideoDone(job.index, "interrupted", {}, error=str(exc))
    except KeyboardInterrupt:
        return VideoDone(job.index, "interrupted", {}, error="interrupted")
    except VeilleError as exc:
        return VideoDone(job.index, "failed", {}, error=mask_credentials(str(exc)))
    except Exception as exc:
        message = f"unexpected error: {type(exc).__name__}: {exc} (VEILLE_DEBUG=1 for details)"
        return VideoDone(job.index, "failed", {}, error=mask_credentials(message))
    report = result.report
    if is_url(job.source):
        report = _named_by_url(report, job.source, folder, job.settings)
    return VideoDone(
        job.index,
        "ok",
        {},
        events=len(report.events),
        max_threat=max((e.threat_level for e in report.events), default=None),
        duration_s=report.video.duration_s,
        complete=report.complete,
        scan_s=report.stats.scan_s,
        analyze_s=analyze_s,
    )


def _named_by_url(report: Any, url: str, folder: Path, settings: Any) -> Any:
    """The report of a video read from ``url`` names the URL, not the node's copy (written again)."""
    from veille.redact import mask_credentials
    from veille.report.writers import write_all

    video = report.video.model_copy(update={"path": mask_credentials(url)})
    report = report.model_copy(update={"video": video})
    write_all(report, folder, settings.formats, lang=settings.lang)
    return report
