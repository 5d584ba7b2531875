"""The chunks of one analysis as a stream: chunk plans from the work cache, then from the scan
(resumed where an interrupted run stopped), keyframes decoded one chunk at a time.

The scan saves its state in the work cache as it goes, with the plans it made; a later run replays
those plans and continues the scan from the saved state, so only the rest of the video is read.
Downstream, each chunk is kept by a :class:`~veille.report.thumbs.Thumbnails` store, which writes its
keyframes as thumbnails and drops the images: nothing held grows with the images of the video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from veille.analysis.motion_events import motion_events, motion_summary
from veille.analysis.outcome import EventsOutcome
from veille.i18n import clock
from veille.progress import Progress
from veille.report.thumbs import Thumbnails
from veille.settings import Settings
from veille.types import Chunk, VideoInfo
from veille.video.checkpoint import ResumeError
from veille.video.chunks import ChunkPlan, load_chunk
from veille.video.probe import played_to
from veille.video.scan import STATE_VERSION, Checkpoint, ScanResult, ScanStream
from veille.workcache import Memo, NullMemo, load_scan_state, save_scan_state, stored_plans

#: Makes the scan stream: (info, settings, progress, state to resume or None, checkpoint or None).
ScanFactory = Callable[[VideoInfo, Settings, Progress, dict[str, Any] | None, Checkpoint | None], ScanStream]


class ChunkFlow:
    """The chunks of one video, streamed from the work cache and the scan (see the module doc).

    ``info`` is the probed video until the scan is over, then what the scan found the file holds (a
    cut file stops before its header says: :func:`~veille.video.probe.played_to`).

    Args:
        info: the probed video.
        settings: the analysis settings.
        folder: the report folder (thumbnails go to ``folder/thumbs``).
        memo: the video's work cache.
        progress: receives the scan's progress and warnings.
        scan: makes the scan stream (fresh, or resumed from a saved state).
    """

    def __init__(
        self, info: VideoInfo, settings: Settings, folder: Path, memo: Memo, progress: Progress, scan: ScanFactory
    ) -> None:
        self.info, self.settings, self.memo, self.progress, self._scan = info, settings, memo, progress, scan
        self.result = ScanResult(info=info)
        self.store = Thumbnails(folder, info.path, self.result.keyframe_times)
        self.stream: ScanStream | None = None
        self.reused = 0  # chunk plans replayed from the work cache
        self._inflight: dict[int, ChunkPlan] = {}  # chunks handed out and not kept yet (e.g. in a describe batch)

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk with its full-resolution keyframes (heartbeat samples left out), one at a time."""
        for plan in self.plans():
            if not plan.heartbeat:
                kept = self.store.kept_ids
                self._inflight = {i: p for i, p in self._inflight.items() if i not in kept}
                self._inflight[plan.id] = plan
                yield load_chunk(self.info.path, plan, self.result.keyframe_times)

    def plans(self) -> Iterator[ChunkPlan]:
        """The chunk plans: those kept in the work cache, then the scan's (which saves its state as it goes)."""
        state = load_scan_state(self.memo)
        if state is not None and state.get("version") != STATE_VERSION:
            self.memo.warnings.append("the work cache was written by another version; the video is scanned again")
            state = None
        if state is not None and state.get("result", {}).get("complete"):
            try:
                self.result.restore(state["result"])
                self._ended()
                yield from self._replay(state["next_id"])
                return
            except (KeyError, TypeError, ValueError):
                self.memo.warnings.append("the work cache was written by another version; the video is scanned again")
                state = None
        stream, resumed = self._open(state)
        self.stream, self.result = stream, stream.result
        self.store.keyframe_times = stream.result.keyframe_times
        if resumed and state is not None:
            yield from self._replay(state["next_id"])
        self.progress.start("scan", self.info.duration_s, unit="s")
        yield from stream
        self._ended()
        self.progress.finish("scan")
        for warning in stream.result.warnings:
            self.progress.warn(warning)

    def _ended(self) -> None:
        """The scan is over: ``info`` says where the video really stops (a cut file holds less than its
        header says)."""
        self.info = played_to(self.info, self.result.end_s)

    def _replay(self, before_id: int) -> Iterator[ChunkPlan]:
        for plan in stored_plans(self.memo, before_id):
            self.reused += 1
            yield plan

    def _open(self, state: dict[str, Any] | None) -> tuple[ScanStream, bool]:
        """The scan stream, opened: resumed from ``state`` when the file allows it, else from the start."""
        checkpoint = None if isinstance(self.memo, NullMemo) else self._checkpoint
        if state is not None:
            stream = None
            try:
                stream = self._scan(self.info, self.settings, self.progress, state, checkpoint)
                stream.open()
                return stream, True
            except (ResumeError, KeyError, TypeError, ValueError) as exc:
                if stream is not None:
                    stream.close()
                self.memo.warnings.append(f"the interrupted scan could not be resumed ({exc}); it started again")
        stream = self._scan(self.info, self.settings, self.progress, None, checkpoint)
        stream.open()
        return stream, False

    def _checkpoint(self, state: dict[str, Any], plans: list[ChunkPlan]) -> None:
        save_scan_state(self.memo, state, plans)

    def close(self) -> None:
        """Close the video (the scan cannot go on after this)."""
        if self.stream is not None:
            self.stream.close()

    def partial(self) -> EventsOutcome:
        """After an interruption: motion events of everything found so far, and a warning saying how far."""
        scan, duration = self.result, self.info.duration_s
        try:  # best effort: the chunks handed out and not kept yet, then the activity the scan had in hand
            late = [p for i, p in self._inflight.items() if i not in self.store.kept_ids]
            if self.stream is not None and not scan.complete:
                self.stream.save_now()
                late += self.stream.flush()
                scan.scanned_to_s = self.stream.reached_s()
            for plan in late:
                if not plan.heartbeat:
                    self.store.keep(load_chunk(self.info.path, plan, scan.keyframe_times))
        except Exception:  # the report of what was found matters more than the last chunk
            pass
        if scan.complete:
            warning = "interrupted during the analysis of events; this report is incomplete (motion only)"
        else:
            warning = (
                f"interrupted during the scan, at {clock(scan.scanned_to_s)} of {clock(duration)}: this report is "
                f"incomplete and covers the video up to {clock(scan.scanned_to_s)}"
            )
        warning += "; run the same command again to resume"
        chunks = sorted(self.store.chunks, key=lambda c: c.id)
        cfg = self.settings
        events = motion_events(
            chunks, self.info.width, self.info.height, keyframes=cfg.scan.keyframes_per_chunk, lang=cfg.lang
        )
        summary = motion_summary(duration if scan.complete else scan.scanned_to_s, events, lang=cfg.lang)
        return EventsOutcome(events, summary=summary, warnings=[warning])
