"""The driver of a cluster batch: folders and index as a local batch, tasks and workers on Ray.

Folders are assigned, claimed and indexed exactly as :func:`veille.batch.run_batch` does; each video
is a task (:mod:`veille.cluster.task`); its files are written into its folder here, atomically,
once the task is over, then the search index and ``index.json`` are brought up to date.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veille.batch import BatchItem, BatchResult, _index_archive, _unclaim_if_empty, read_index, write_index
from veille.cluster.actors import start_workers
from veille.cluster.files import deliver, is_url, read_folder
from veille.cluster.hub import start_hub
from veille.cluster.task import TASK_CPUS, TASK_RETRIES, VideoDone, VideoJob, analyze_video
from veille.errors import AnalysisInterrupted, VeilleError
from veille.folders import SOURCE_FILE, assign_folders, claim_folder
from veille.redact import mask_credentials

#: Seconds the driver waits, after Ctrl-C, for running videos to write their partial reports.
GRACE_S = 60.0
#: CPU cores per model worker when the cluster has no GPU.
CPUS_PER_WORKER = 4


@dataclass(slots=True)
class Tally:
    """Where the run stands, for the progress bar: videos done, footage seconds analysed, since when."""

    total: int
    done: int = 0
    footage_s: float = 0.0
    started: float = 0.0

    def hours_per_hour(self, running_s: float = 0.0) -> float:
        """Hours of footage analysed per hour of wall time so far."""
        elapsed = time.perf_counter() - self.started
        return (self.footage_s + running_s) / elapsed if elapsed > 0 else 0.0


OnDone = Callable[[BatchItem, VideoDone, Path], None]
OnTick = Callable[[Tally, float], None]


def run_cluster_batch(
    ray: Any,
    sources: Sequence[str],
    settings: Any,
    *,
    on_done: OnDone | None = None,
    on_tick: OnTick | None = None,
) -> BatchResult:
    """Analyse every source on the connected Ray cluster into ``settings.out_dir``, as a local batch would.

    Raises:
        AnalysisInterrupted: on Ctrl-C, after the running videos wrote their partial reports and the
            index was written marked incomplete.
    """
    out_dir = Path(settings.out_dir)
    keys = [Path(s) for s in sources]  # a URL's Path only names its folder and its index entry
    old = read_index(out_dir)
    folders = assign_folders(keys, out_dir, {e["video_abs"]: e["folder"] for e in old if "video_abs" in e})
    items = [BatchItem(video=mask_credentials(s), folder=folders[k]) for s, k in zip(sources, keys, strict=True)]
    result = BatchResult(items, out_dir)
    write_index(result, previous=old, videos=keys, complete=False)  # fails early when --out is unusable
    hub = start_hub(ray)
    workers = start_workers(ray, settings, CPUS_PER_WORKER) if settings.profile != "motion" else []
    task = ray.remote(num_cpus=TASK_CPUS, max_retries=TASK_RETRIES, retry_exceptions=False)(analyze_video)

    def submit(n: int) -> Any:
        """Claim video ``n``'s folder (as a local batch does just before a video) and start its task."""
        item, key = items[n], keys[n]
        folder = out_dir / item.folder
        claim_folder(folder, key)
        files = {k: v for k, v in read_folder(folder).items() if k != SOURCE_FILE}
        worker = workers[n % len(workers)] if workers else None
        source = sources[n] if is_url(sources[n]) else str(key)
        return task.remote(VideoJob(n, source, item.folder, settings, files, worker, hub))

    refs: dict[Any, int] = {}
    tally = Tally(len(items), started=time.perf_counter())
    run = _Run(ray, result, old, keys, hub, on_done, on_tick, tally)
    run.feed(submit, list(range(len(items))), window=max(4, 2 * int(ray.cluster_resources().get("CPU", 1))))
    try:
        run.collect(refs)
    except KeyboardInterrupt:
        run.interrupt(refs)
        raise AnalysisInterrupted(run.interrupted_line()) from None
    write_index(result, previous=old, videos=keys, complete=True)
    return result


class _Run:
    """Collects the tasks' results as they come, writes their folders, keeps the index current."""

    def __init__(self, ray: Any, result: BatchResult, old: list, keys: list[Path], hub: Any,
                 on_done: OnDone | None, on_tick: OnTick | None, tally: Tally) -> None:  # fmt: skip
        self.ray, self.result, self.old, self.keys, self.hub = ray, result, old, keys, hub
        self.on_done, self.on_tick, self.tally = on_done, on_tick, tally
        self._submit: Callable[[int], Any] = lambda n: None
        self._queue: list[int] = []
        self._window = 0

    def feed(self, submit: Callable[[int], Any], queue: list[int], *, window: int) -> None:
        """Start the videos of ``queue`` with ``submit``, at most ``window`` in flight (the rest wait
        here, not in Ray: their folders are read only when they start, and Ctrl-C leaves them pending)."""
        self._submit, self._queue, self._window = submit, list(queue), window

    def _top_up(self, refs: dict[Any, int]) -> None:
        while self._queue and len(refs) < self._window:
            n = self._queue.pop(0)
            try:
                refs[self._submit(n)] = n
            except VeilleError as exc:  # its folder cannot be claimed: a failure of this video alone
                item = self.result.items[n]
                failed = VideoDone(n, "failed", {}, error=mask_credentials(str(exc)))
                self._write(item, failed, self.result.out_dir / item.folder)

    def collect(self, refs: dict[Any, int], deadline: float | None = None) -> None:
        """Wait for the tasks of ``refs`` (removing each as it is handled, starting queued videos in
        their place), until ``deadline`` if given."""
        self._top_up(refs)
        while refs and (deadline is None or time.monotonic() < deadline):
            ready, _ = self.ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                self._handle(refs.pop(ref), ref)
            self._top_up(refs)
            if self.on_tick is not None:
                self.on_tick(self.tally, self._running_s())

    def _running_s(self) -> float:
        try:
            return float(self.ray.get(self.hub.snapshot.remote(), timeout=2)[0])
        except Exception:  # the hub is being restarted: the bar waits
            return 0.0

    def _handle(self, n: int, ref: Any) -> None:
        item = self.result.items[n]
        folder = self.result.out_dir / item.folder
        try:
            done: VideoDone = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return  # never started: it stays pending
        except self.ray.exceptions.RayError as exc:
            done = VideoDone(n, "failed", {}, error=_ray_failure(exc))
        self._write(item, done, folder)
        self.tally.done += 1
        self.tally.footage_s += done.duration_s or 0.0
        if self.on_done is not None:
            self.on_done(item, done, folder)

    def _write(self, item: BatchItem, done: VideoDone, folder: Path) -> None:
        if done.files:
            deliver(done.files, folder, keep=frozenset({SOURCE_FILE}))
        item.status = done.status
        item.error = done.error.replace(done.stage_dir, str(folder)) if done.status == "failed" and done.error else None
        if done.status == "ok":
            item.events, item.max_threat, item.duration_s = done.events, done.max_threat, done.duration_s
            item.complete = done.complete
        if (folder / "report.json").is_file() and done.status != "failed":
            item.report = f"{item.folder}/report.json"
        if (folder / "report.html").is_file() and done.status != "failed":
            item.html = f"{item.folder}/report.html"
        if done.status == "failed":
            _unclaim_if_empty(folder)
        _index_archive(self.result, item)
        write_index(self.result, previous=self.old, videos=self.keys, complete=False)

    def interrupt(self, refs: dict[Any, int]) -> None:
        """Ctrl-C: stop the running videos (they write partial reports), drop the others, write the index."""
        self._queue = []
        self.hub.cancel.remote()
        try:
            started = set(self.ray.get(self.hub.snapshot.remote(), timeout=10)[1])
        except Exception:
            started = set()
        for ref, n in list(refs.items()):
            if n not in started:
                self.ray.cancel(ref)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
            self.collect(refs, deadline=time.monotonic() + GRACE_S)
        for item in self.result.items:
            if item.status == "pending" and (self.result.out_dir / item.folder / "report.json").is_file():
                item.status = "interrupted"
        write_index(self.result, previous=self.old, videos=self.keys, complete=False)

    def interrupted_line(self) -> str:
        """The one line of an interrupted run."""
        items = self.result.items
        finished = sum(i.status in ("ok", "failed") for i in items)
        return (
            f"interrupted; {finished} of {len(items)} videos done, partial reports and the index written in "
            f"{self.result.out_dir}; run the same command again to resume"
        )


def _ray_failure(exc: Exception) -> str:
    """One line for a task Ray gave up on (its worker died more often than the retries allow)."""
    name = type(exc).__name__
    if "WorkerCrashed" in name or "NodeDied" in name or "ObjectLost" in name:
        return f"its worker died {TASK_RETRIES + 1} times ({name}); run the same command again to retry it"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    return mask_credentials(f"the cluster could not run it: {name}: {first}"[:300])

