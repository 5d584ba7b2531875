"""From per-frame motion to segments (hysteresis, gaps, padding) and chunks with keyframes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from veille.settings import ScanSettings
from veille.types import Box, MotionSample, Segment
from veille.video.checkpoint import sample_from, sample_state


@dataclass(slots=True)
class ActiveStretch:
    """A segment plus the motion samples measured inside it (before padding)."""

    segment: Segment
    samples: list[MotionSample] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    start_s: float
    last_active_s: float
    peak: float
    samples: list[MotionSample]


def segment_samples(
    samples: Iterable[MotionSample], cfg: ScanSettings, *, duration_s: float
) -> Iterator[ActiveStretch]:
    """Turn a stream of motion samples into padded, merged segments (streaming).

    A segment opens when the score reaches ``cfg.motion_threshold`` and stays open while it stays
    above half of it; it closes after ``cfg.merge_gap_s`` below. Segments shorter than
    ``cfg.min_segment_s`` are dropped; the rest are padded by ``cfg.padding_s`` and merged when
    the padding makes them touch.
    """
    segmenter = Segmenter(cfg, duration_s=duration_s)
    for sample in samples:
        yield from segmenter.feed(sample)
    yield from segmenter.finish()


class Segmenter:
    """:func:`segment_samples` fed one sample at a time, with a state that can be saved and restored.

    It holds the segment still open and the last closed one (the next may still merge with it).
    """

    def __init__(self, cfg: ScanSettings, *, duration_s: float) -> None:
        self.cfg, self.duration_s = cfg, duration_s
        self.current: _Open | None = None
        self.pending: ActiveStretch | None = None
        self.next_id = 0

    def feed(self, sample: MotionSample) -> Iterator[ActiveStretch]:
        """Add a sample (in time order); yield the stretch it proves finished, if any."""
        cfg = self.cfg
        current = self.current
        if current is not None and sample.t_s - current.last_active_s > cfg.merge_gap_s:
            self.current = None
            yield from self._close(current)
            current = None
        if sample.score >= cfg.motion_threshold or (current is not None and sample.score >= cfg.motion_threshold / 2):
            if current is None:
                self.current = current = _Open(sample.t_s, sample.t_s, 0.0, [])
            current.last_active_s = sample.t_s
            current.peak = max(current.peak, sample.score)
        if current is not None:
            current.samples.append(sample)

    def finish(self) -> Iterator[ActiveStretch]:
        """No sample will follow: yield what is left."""
        if self.current is not None:
            current, self.current = self.current, None
            yield from self._close(current)
        if self.pending is not None:
            yield self.pending
        self.pending = None

    def _close(self, seg: _Open) -> Iterator[ActiveStretch]:
        self.pending, done, self.next_id = _close(seg, self.pending, self.cfg, self.duration_s, self.next_id)
        if done:
            yield done

    def state(self) -> dict[str, Any]:
        """The open segment, the stretch held back and the next id, as JSON (to resume a scan)."""
        current = self.current
        pending = self.pending
        return {
            "next_id": self.next_id,
            "current": None
            if current is None
            else [current.start_s, current.last_active_s, current.peak, [sample_state(x) for x in current.samples]],
            "pending": None
            if pending is None
            else [dataclasses.asdict(pending.segment), [sample_state(x) for x in pending.samples]],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self.next_id = state["next_id"]
        current, pending = state["current"], state["pending"]
        if current is None:
            self.current = None
        else:
            self.current = _Open(current[0], current[1], current[2], [sample_from(x) for x in current[3]])
        if pending is not None:
            self.pending = ActiveStretch(Segment(**pending[0]), [sample_from(x) for x in pending[1]])
        else:
            self.pending = None


def _close(
    seg: _Open, pending: ActiveStretch | None, cfg: ScanSettings, duration_s: float, next_id: int
) -> tuple[ActiveStretch | None, ActiveStretch | None, int]:
    """Close ``seg``; merge it into ``pending`` or emit ``pending`` and hold ``seg``."""
    if seg.last_active_s - seg.start_s < cfg.min_segment_s:
        return pending, None, next_id
    start = max(0.0, seg.start_s - cfg.padding_s)
    end = min(duration_s, seg.last_active_s + cfg.padding_s) if duration_s else seg.last_active_s + cfg.padding_s
    samples = [s for s in seg.samples if s.t_s <= seg.last_active_s]
    activity = min(1.0, seg.peak * 10)  # a tenth of the frame moving reads as full activity
    if pending is not None and start <= pending.segment.end_s:
        old = pending.segment
        merged = Segment(old.id, old.start_s, max(old.end_s, end), max(old.activity, activity))
        return ActiveStretch(merged, pending.samples + samples), None, next_id
    fresh = ActiveStretch(Segment(next_id, start, end, activity), samples)
    return fresh, pending, next_id + 1


def split_chunks(segment: Segment, chunk_s: float) -> list[tuple[float, float]]:
    """Split a segment into equal pieces of at most ``chunk_s`` seconds."""
    n = max(1, math.ceil(segment.duration_s / chunk_s - 1e-9))
    step = segment.duration_s / n
    return [(segment.start_s + i * step, segment.start_s + (i + 1) * step) for i in range(n)]


#: A frame within this share of its bin's peak motion is as good a keyframe as the peak itself.
NEAR_PEAK = 0.75


def pick_keyframe_times(
    samples: Sequence[MotionSample],
    start_s: float,
    end_s: float,
    k: int,
    keyframes: Sequence[float] | None = None,
) -> list[tuple[float, float]]:
    """Choose up to ``k`` (time, score) pairs at motion peaks, spread evenly through the span.

    The span is cut into ``k`` bins; each bin gives its highest-scoring sample at least half a bin
    after the previous pick (two peaks either side of a bin edge would show the VLM one moment
    twice), or its middle when it holds none. Given the stream's ``keyframes`` (sorted times), a
    bin takes, among its samples within :data:`NEAR_PEAK` of the peak, the one closest after a
    keyframe: it is decoded again at full resolution, from that keyframe on.
    """
    span = max(end_s - start_s, 1e-6)
    gap = span / k / 2
    keys = np.asarray(keyframes if keyframes is not None else (), dtype=np.float64)
    picks: list[tuple[float, float]] = []
    for i in range(k):
        lo, hi = start_s + span * i / k, start_s + span * (i + 1) / k
        after = picks[-1][0] + gap if picks else lo
        inside = [s for s in samples if max(lo, after) <= s.t_s < hi]
        if inside:
            best = max(inside, key=lambda s: s.score)
            if keys.size:
                near = [s for s in inside if s.score >= NEAR_PEAK * best.score]
                best = min(near, key=lambda s: (_since_keyframe(keys, s.t_s), -s.score))
            picks.append((best.t_s, best.score))
        else:
            picks.append(((lo + hi) / 2, 0.0))
    return picks


def _since_keyframe(keys: np.ndarray, t_s: float) -> float:
    i = int(np.searchsorted(keys, t_s + 1e-6)) - 1
    return t_s - float(keys[i]) if i >= 0 else t_s


def union_boxes(samples: Iterable[MotionSample]) -> tuple[tuple[Box, ...], int]:
    """The boxes of the strongest sample and the largest number of regions seen at once."""
    best: MotionSample | None = None
    regions = 0
    for sample in samples:
        regions = max(regions, len(sample.boxes))
        if best is None or sample.score > best.score:
            best = sample
    return (best.boxes if best else ()), regions


def heartbeat_times(segments: Sequence[Segment], duration_s: float, every_s: float) -> list[float]:
    """Times to sample during long quiet stretches, every ``every_s`` seconds of quiet."""
    if every_s <= 0 or duration_s <= 0:
        return []
    times: list[float] = []
    quiet_start = 0.0
    for start, end in [(s.start_s, s.end_s) for s in segments] + [(duration_s, duration_s)]:
        times += quiet_beats(quiet_start, start, every_s)
        quiet_start = max(quiet_start, end)
    return times


def quiet_beats(quiet_start: float, until_s: float, every_s: float) -> list[float]:
    """Heartbeat times in the quiet from ``quiet_start`` to ``until_s``: every ``every_s`` seconds."""
    times: list[float] = []
    t = quiet_start + every_s
    while t < until_s - 1e-6:
        times.append(t)
        t += every_s
    return times
