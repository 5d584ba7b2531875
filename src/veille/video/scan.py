"""The activity scan: which stretches of a video hold movement, cut into chunks with keyframes.

1. Packet pass (demux only): per window, is the packet-size signal informative? If so, runs of
   hot inter-frames become candidate intervals; if not (CBR, intra-only, MJPEG), the whole window
   becomes a fallback span.
2. Pixel pass: decode only those spans (threaded, downscaled gray) through the motion detector.
3. Segments (hysteresis, gaps, padding) → chunks of at most ``chunk_s`` with K keyframes each,
   plus quiet heartbeats.

Everything streams: the packet pass runs just ahead of the pixel pass, and chunk plans come out as
their segments close (:class:`ScanStream`, a lazy stream of plans with eager facts, the way
faster-whisper returns a lazy generator of segments with its info). Memory does not grow with the
length of the video, only with the motion samples of the segment in progress. Now and then, the
whole state of the scan is handed to a checkpoint callback, from which an interrupted scan resumes.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import Any

from veille.settings import ScanSettings
from veille.types import Segment, VideoInfo
from veille.video.checkpoint import sample_from, sample_state
from veille.video.chunks import ChunkPlan, ChunkPlanner, load_chunk
from veille.video.packetpass import PacketPass
from veille.video.packets import Span, SpanMerger
from veille.video.pixelpass import PixelPass
from veille.video.result import ScanResult
from veille.video.segments import ActiveStretch, Segmenter

__all__ = ["STATE_VERSION", "Checkpoint", "ScanResult", "ScanStream", "scan_video"]

ProgressFn = Callable[[float], None]  # called with seconds of video done
Checkpoint = Callable[[dict[str, Any], list[ChunkPlan]], None]  # (state, plans made since the last call)

#: Bumped whenever the saved state changes shape or meaning (an older state is then not resumed).
#: 2: the scan's ``end_s``; the keyframe check's background is upright.
STATE_VERSION = 2


def scan_video(
    info: VideoInfo, cfg: ScanSettings, *, progress: ProgressFn | None = None, load_keyframes: bool = True
) -> ScanResult:
    """Scan ``info.path`` for activity and build chunks with full-resolution keyframes.

    Args:
        info: the probed video.
        cfg: scan settings (``cfg.mode``: auto, packets or pixels).
        progress: called now and then with the seconds of video done.
        load_keyframes: decode the keyframes of every chunk now (``chunks``); when False, use
            :meth:`ScanResult.iter_chunks` to stream them.
    """
    stream = ScanStream(info, cfg, progress=progress)
    result = stream.result
    result.chunk_plans = list(stream)
    if load_keyframes:
        result.chunks = [load_chunk(info.path, plan, result.keyframe_times) for plan in result.chunk_plans]
    return result


class ScanStream:
    """The scan as a lazy stream of chunk plans (iterate it once) and its eager facts (:attr:`result`).

    Args:
        info: the probed video.
        cfg: scan settings.
        progress: called now and then with the seconds of video done.
        checkpoint: called every ``every_s`` seconds (wall clock) or so with the scan's whole state
            (JSON) and the plans made since the last call, and once at the end (``complete``).
        resume: a state given to ``checkpoint``: the scan goes on from there. :meth:`open` raises
            :class:`~veille.video.checkpoint.ResumeError` when the file does not let it.
        every_s: least wall-clock time between two checkpoints.
    """

    def __init__(
        self,
        info: VideoInfo,
        cfg: ScanSettings,
        *,
        progress: ProgressFn | None = None,
        checkpoint: Checkpoint | None = None,
        resume: dict[str, Any] | None = None,
        every_s: float = 0.5,
    ) -> None:
        self.info, self.cfg = info, cfg
        self.result = ScanResult(info=info)
        self.packets = PacketPass(info, cfg, self.result)
        self.merger = SpanMerger(cfg.span_merge_s)
        self.queue: deque[Span] = deque()
        self.pixels = PixelPass(info, cfg, self.result)
        self.segmenter = Segmenter(cfg, duration_s=info.duration_s)
        self.waiting: list[ActiveStretch] = []
        self.planner = ChunkPlanner(info.duration_s, cfg, self.result.keyframe_times)
        self._progress = _Progress(progress)
        self._checkpoint, self._every_s = checkpoint, every_s
        self._unsaved: list[ChunkPlan] = []
        self._saved_at = time.perf_counter()
        self._scan_s = 0.0
        self._busy_since: float | None = None
        self._broken = False
        if resume is not None:
            self._restore(resume)

    def open(self) -> None:
        """Open the video for both passes (a resumed scan goes back to where it was)."""
        try:
            self.packets.open()
            self.pixels.open()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the video."""
        self.packets.close()
        self.pixels.close()

    def __iter__(self) -> Iterator[ChunkPlan]:
        """The plans, as the scan makes them (``result.scan_s`` counts only the time spent scanning)."""
        self.open()
        self._saved_at = time.perf_counter()
        self._scan_s = self.result.scan_s
        steps = self._run()
        try:
            while True:
                self._busy_since = time.perf_counter()
                try:
                    plan = next(steps)
                except StopIteration:
                    return
                except BaseException:
                    self._broken = True  # stopped inside a stage: its state may be half updated
                    raise
                finally:
                    self._scan_s += time.perf_counter() - self._busy_since
                    self._busy_since = None
                yield plan
        finally:
            steps.close()
            self.close()
            self._tick()

    def _run(self) -> Generator[ChunkPlan, None, None]:
        if self.result.complete:
            return
        yield from self._samples(self.pixels.resume())
        yield from self._drain()
        for spans in self.packets.spans(self._progress):
            for span in spans:
                self.queue.extend(self.merger.feed(span))
            yield from self._drain()
            self._maybe_save()
        self.queue.extend(self.merger.flush())
        yield from self._drain()
        for stretch in self.segmenter.finish():
            self._stretch(stretch)
        yield from self._plans(final=True)
        self.result.warnings += self.pixels.warnings()
        self.result.complete = True
        self._save()

    def _drain(self) -> Iterator[ChunkPlan]:
        while self.queue:
            yield from self._samples(self.pixels.decode(self.queue.popleft()))

    def _samples(self, samples: Iterator[Any]) -> Iterator[ChunkPlan]:
        for sample in samples:
            if sample is not None:
                for stretch in self.segmenter.feed(sample):
                    self._stretch(stretch)
                yield from self._plans()
            if self.result.frames_decoded % 64 == 0:
                self._progress(self.pixels.last_t)
                self._maybe_save()

    def _stretch(self, stretch: ActiveStretch) -> None:
        self.result.segments.append(stretch.segment)
        self.waiting.append(stretch)

    def _plans(self, *, final: bool = False) -> Iterator[ChunkPlan]:
        """Plans of the stretches whose keyframe times are all known (packets read past their end)."""
        known = float("inf") if final or self.packets.done else self.packets.reached_s
        while self.waiting and (final or self.waiting[0].segment.end_s <= known):
            plans = self.planner.feed(self.waiting.pop(0))
            self._unsaved += plans
            yield from plans
        if final:
            plans = self.planner.finish()
            self._unsaved += plans
            yield from plans

    def reached_s(self) -> float:
        """The scan's findings are complete up to this time."""
        if self.result.complete:
            return self.info.duration_s
        times = [self._next_span_s(), self.packets.reached_s]
        if self.pixels.span is not None:
            times.append(self.pixels.pos_t if self.pixels.pos_t is not None else self.pixels.span[0].start_s)
        return max(0.0, min(self.info.duration_s, *times))

    def _next_span_s(self) -> float:
        """No span still to decode starts before this time."""
        times = [self.packets.bound, *(s.start_s for s in self.queue), *(s.start_s for s in self.packets.pending)]
        if self.merger.current is not None:
            times.append(self.merger.current.start_s)
        return min(times)

    def _decoder_idle(self) -> bool:
        """Between spans, when the next span is too far to decode on to: the decoder's place and the
        detector's background no longer matter (the next span seeks and starts afresh)."""
        return self.pixels.span is None and self._next_span_s() > self.pixels.last_t + self.cfg.span_merge_s

    def flush(self) -> list[ChunkPlan]:
        """After an interruption: the activity still in progress (open segment, stretches held back),
        planned as far as it is known. The scan cannot go on after this."""
        for stretch in self.segmenter.finish():
            self._stretch(stretch)
        plans = [plan for stretch in self.waiting for plan in self.planner.feed(stretch)]
        self.waiting = []
        return plans

    def save_now(self) -> bool:
        """After an interruption outside the scan's own code (while a plan was being used): save the
        state now, as it is whole. Returns whether it was saved."""
        if self._checkpoint is None or self._broken or self.result.complete or not self.packets.resumable():
            return False
        self._save()
        return True

    def _tick(self) -> None:
        busy = time.perf_counter() - self._busy_since if self._busy_since is not None else 0.0
        self.result.scan_s = self._scan_s + busy
        self.result.scanned_to_s = self.reached_s()

    def _maybe_save(self) -> None:
        due = self._checkpoint is not None and time.perf_counter() - self._saved_at >= self._every_s
        if due and self.packets.resumable():
            self._save()

    def _save(self) -> None:
        self._tick()
        if self._checkpoint is not None:
            self._checkpoint(self.state(), self._unsaved)
            self._unsaved = []
        self._saved_at = time.perf_counter()

    def state(self) -> dict[str, Any]:
        """The scan's whole state as JSON, at a point where it can be resumed."""
        current = self.merger.current
        return {
            "version": STATE_VERSION,
            "next_id": self.planner.next_id,
            "result": self.result.facts(),
            "packets": self.packets.state(),
            "merger": None if current is None else [current.start_s, current.end_s, current.reason],
            "queue": [[s.start_s, s.end_s, s.reason] for s in self.queue],
            "pixels": self.pixels.state(detach=self._decoder_idle()),
            "segmenter": self.segmenter.state(),
            "waiting": [
                [dataclasses.asdict(s.segment), [sample_state(x) for x in s.samples]] for s in self.waiting
            ],
            "planner": self.planner.state(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError("a scan state of another version")
        self.result.restore(state["result"])
        self.result.resumed_at_s = self.result.scanned_to_s
        self.packets.restore(state["packets"])
        merger = state["merger"]
        self.merger.current = None if merger is None else Span(*merger)
        self.queue.extend(Span(*s) for s in state["queue"])
        self.pixels.restore(state["pixels"])
        self.segmenter.restore(state["segmenter"])
        self.waiting = [ActiveStretch(Segment(**seg), [sample_from(x) for x in xs]) for seg, xs in state["waiting"]]
        self.planner.restore(state["planner"])


class _Progress:
    """Forwards the furthest time reached by either pass, never going back."""

    def __init__(self, fn: ProgressFn | None) -> None:
        self.fn, self.best = fn, 0.0

    def __call__(self, t_s: float) -> None:
        if self.fn is not None and t_s > self.best:
            self.best = t_s
            self.fn(t_s)
