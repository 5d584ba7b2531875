"""Model profiles on live events: the describer and the judge in one background worker.

The keyframes of each chunk of an event (every ``chunk_s`` of a long one, and its end) wait in a
short queue (``MAX_PENDING``); when the models are behind and the queue is full, the chunk is
skipped with a counted warning: the stream is never held up and nothing piles up in memory.
Described and judged events are written to the day's report (and the index) and alerted as
``described`` and ``judged``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veille.analysis.engine import run_models
from veille.models.session import ModelLifetime, ModelSession
from veille.progress import NullProgress
from veille.redact import mask_credentials
from veille.report.schema import ReportEvent
from veille.settings import Settings
from veille.types import Chunk, Keyframe, VideoInfo

#: Longest description an event gathers from its chunks.
MAX_DESCRIPTION = 1200
#: Chunks waiting for the models at most; more are skipped (counted).
MAX_PENDING = 2
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Job:
    """One chunk of an event for the models."""

    camera: Any  # the CameraWorker (its spec, archive, alerts)
    start_wall: float
    report: ReportEvent
    chunk: Chunk
    info: VideoInfo


class EventDescriber(threading.Thread):
    """Describes and judges events' chunks, one at a time, with a session that keeps its models loaded."""

    def __init__(
        self,
        settings: Settings,
        *,
        warn: Warn | None = None,
        session: ModelSession | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        super().__init__(name="veille-models", daemon=True)
        self.settings = settings
        self.warn = warn or (lambda message: None)
        self.session = session or ModelSession(settings, lifetime=ModelLifetime.BATCH)
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self.skipped = 0
        self.done = 0

    def submit(self, camera: Any, keyframes: tuple[Keyframe, ...], report: ReportEvent, facts: Any,
               start_wall: float) -> bool:
        """Queue a chunk of an event (never blocks); False when the models are behind and it was skipped."""
        if not keyframes:
            return False
        chunk = Chunk(report.id, report.id, report.start_s, report.end_s, keyframes, tuple(b for k in keyframes
                      for b in k.boxes), max(len(k.boxes) for k in keyframes), max(k.score for k in keyframes))
        info = VideoInfo(Path(camera.spec.name), report.end_s, facts.fps, facts.width, facts.height, 0, facts.codec)
        try:
            self.queue.put_nowait(Job(camera, start_wall, report, chunk, info))
        except queue.Full:
            self.skipped += 1
            self.warn(
                f"{camera.spec.name}: the models are behind; a part of event {report.id} goes undescribed"
                f" ({self.skipped} skipped so far)"
            )
            return False
        return True

    def run(self) -> None:
        """Describe queued events until :meth:`close`."""
        try:
            while (job := self.queue.get()) is not None:
                try:
                    self._describe(job)
                except Exception as exc:  # one failed event must not stop the worker
                    name, why = job.camera.spec.name, f"{type(exc).__name__}: {exc}"
                    self.warn(mask_credentials(f"{name}: event {job.report.id} not described: {why}"))
        finally:
            self.session.close()

    def _describe(self, job: Job) -> None:
        spec = job.camera.spec
        settings = self.settings.model_copy(update={"context": spec.context or self.settings.context})
        warnings: list[str] = []
        self.session.rebind(progress=NullProgress(), warnings=warnings)
        outcome = run_models(job.info, [job.chunk], settings, self.session, progress=NullProgress())
        for warning in warnings:
            self.warn(f"{spec.name}: {warning}")
        if not outcome.events or outcome.events[0].source != "vlm":
            return
        found = outcome.events[0]
        archive, alerts = job.camera.archive, job.camera.alerts
        fields = _merged(archive.event(spec.name, job.start_wall, job.report.id), found.title, found.description)
        updated = archive.update(spec.name, job.start_wall, job.report.id, fields)
        if updated is not None:
            alerts.event("described", updated, job.start_wall)
        if outcome.llm_calls:
            now = archive.event(spec.name, job.start_wall, job.report.id)
            later = now is not None and job.report.start_s > now.start_s  # not the event's first chunk
            before = now.threat_level if later and now is not None else 0  # an event is as bad as its worst part
            verdict = {"threat_level": max(before, found.threat_level), "confidence": round(found.confidence, 3)}
            updated = archive.update(spec.name, job.start_wall, job.report.id, verdict)
            if updated is not None:
                alerts.event("judged", updated, job.start_wall)
        self.done += 1

    def close(self, timeout_s: float = 60.0) -> None:
        """Finish the queued events (for at most ``timeout_s``), then free the models."""
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            self.warn("the models did not finish the queued events in time; they stay motion-only")
            return
        self.join(timeout_s)


def _merged(current: ReportEvent | None, title: str, description: str) -> dict[str, Any]:
    """An event's words after one more chunk was described: the first chunk's title, the descriptions
    one after the other (at most ``MAX_DESCRIPTION`` characters, the latest kept)."""
    if current is None or current.source != "vlm":
        return {"title": title[:120], "description": description, "source": "vlm"}
    text = f"{current.description} {description}".strip()
    if len(text) > MAX_DESCRIPTION:
        text = "… " + text[-MAX_DESCRIPTION:]
    return {"title": current.title, "description": text, "source": "vlm"}
