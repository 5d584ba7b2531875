"""Compressed-domain pass: where the stream says something changed, from packet sizes alone.

Demux only (no decode): per packet its size, keyframe flag, time and frame class (I, P, B, from
the slice header). In VBR streams an inter-frame's size rises sharply with motion; a per-class
running baseline of quiet sizes turns sizes into "hot" frames, and runs of hot frames into
candidate intervals. Per window, a test decides whether the sizes carry that signal at all
(not in CBR, intra-only or MJPEG streams); where they do not, the whole window goes to the
pixel pass.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from veille.video.bitstream import CLASS_I, N_CLASSES
from veille.video.demux import PacketReader, PacketWindow, ReadPoint, packet_windows

__all__ = [
    "HotGrouper",
    "PacketBaseline",
    "PacketReader",
    "PacketWindow",
    "ReadPoint",
    "Span",
    "SpanMerger",
    "merge_spans",
    "packet_windows",
]


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch the pixel pass must decode, and why."""

    start_s: float
    end_s: float
    reason: str  # "candidate" | "fallback"


PLACE_HISTORY = 24  # quiet sizes kept per (class, place in GOP)
PLACE_MIN = 6  # before this many, the class-wide baseline is used


class PacketBaseline:
    """Per-frame-class baseline of quiet inter-frame sizes (in log bytes).

    Keyframes are excluded and each class (P, reference B, B) has its own baseline, so like is
    compared with like. Within a class, quiet sizes still swing several-fold with the frame's place
    in the GOP (x264 spends more on the first P-frames after a keyframe), so the baseline is a
    high quantile of recent quiet sizes of the same class *at the same place in the GOP* once that
    place has been seen often enough (fixed GOPs, what cameras use), else of the whole class: a
    frame is hot only when it is well above what quiet frames like it reach. Hot frames do not
    feed the baseline (only one in ``adapt_every`` does, so a lasting change of scene is slowly
    learnt).

    Args:
        hot_ratio: a frame is hot when the median of its and the previous inter-frames' size
            ratios to their class baselines exceeds this.
        informative_ratio: a window's packet sizes are informative when the quarter-quantile of
            its inter-frame sizes is below this share of the typical keyframe size.
        smooth: how many frames of one class the median runs over (noise makes lone frames jump).
        quiet_cap: most a quiet inter-frame may weigh, as a share of a keyframe, so that a
            stream busy from its first frame cannot teach the baseline that busy is quiet.
        quantile: which quantile of recent quiet sizes is the baseline.
        history: how many recent quiet sizes per class the quantile is taken over.
        adapt_every: one hot frame in this many still feeds the baseline.
    """

    def __init__(
        self,
        *,
        hot_ratio: float = 1.6,
        informative_ratio: float = 0.1,
        smooth: int = 3,
        quiet_cap: float = 0.1,
        quantile: float = 90.0,
        history: int = 150,
        adapt_every: int = 10,
    ) -> None:
        self.log_hot = math.log(hot_ratio)
        self.smooth = smooth
        self.quiet_cap = quiet_cap
        self.quantile = quantile
        self.adapt_every = adapt_every
        self._tails = [np.zeros(0) for _ in range(N_CLASSES)]
        self.informative_ratio = informative_ratio
        self.quiet: list[deque[float]] = [deque(maxlen=history) for _ in range(N_CLASSES)]
        self._hot_seen = [0] * N_CLASSES
        self.by_place: dict[tuple[int, int], deque[float]] = {}
        self._place = 0  # frames since the last keyframe, in presentation order
        self.key_sizes: deque[int] = deque(maxlen=16)

    def state(self) -> dict[str, Any]:
        """The learnt baseline as JSON (to resume a scan)."""
        return {
            "tails": [t.tolist() for t in self._tails],
            "quiet": [list(q) for q in self.quiet],
            "hot_seen": list(self._hot_seen),
            "by_place": [[cls, place, list(v)] for (cls, place), v in self.by_place.items()],
            "place": self._place,
            "key_sizes": list(self.key_sizes),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self._tails = [np.asarray(t, dtype=np.float64) for t in state["tails"]]
        for quiet, values in zip(self.quiet, state["quiet"], strict=True):
            quiet.clear()
            quiet.extend(values)
        self._hot_seen = list(state["hot_seen"])
        self.by_place = {(c, p): deque(v, maxlen=PLACE_HISTORY) for c, p, v in state["by_place"]}
        self._place = state["place"]
        self.key_sizes.clear()
        self.key_sizes.extend(state["key_sizes"])

    def informative(self, window: PacketWindow) -> tuple[bool, str]:
        """Whether packet sizes in ``window`` can tell motion from quiet, and why."""
        key = window.classes == CLASS_I
        self.key_sizes.extend(max(1, int(s)) for s in window.sizes[key])
        inter = window.sizes[~key]
        if len(inter) < max(2, len(window.sizes) // 4):
            return False, "intra-only stream: packet sizes carry no motion signal"
        if not self.key_sizes:
            return False, "no keyframe seen yet to compare sizes with"
        if np.count_nonzero(key) < 2:
            return False, "keyframes too far apart to cross-check packet sizes with decoded keyframes"
        floor = float(np.percentile(inter, 25))
        ratio = floor / float(np.median(self.key_sizes))
        if ratio >= self.informative_ratio:
            return False, f"constant bitrate: quiet inter-frames are {ratio:.0%} of a keyframe"
        return True, f"variable bitrate: quiet inter-frames are {ratio:.1%} of a keyframe"

    def hot(self, window: PacketWindow) -> np.ndarray:
        """Which packets of ``window`` are hot: the median of the last ``smooth`` size ratios of the
        packet's own class exceeds the hot ratio. Keyframes are never hot."""
        ratios = self._ratios(window)
        out = np.zeros(len(ratios), dtype=bool)
        for cls in range(N_CLASSES):
            idx = np.flatnonzero(window.classes == cls) if cls != CLASS_I else np.zeros(0, int)
            if not len(idx):
                continue
            tail = self._tails[cls]
            values = np.concatenate([tail, ratios[idx]])
            k = min(self.smooth, len(values))
            med = np.median(np.lib.stride_tricks.sliding_window_view(values, k), axis=1)
            med = np.concatenate([np.full(k - 1, -np.inf), med])[len(tail) :]
            out[idx] = med > self.log_hot
            self._tails[cls] = values[-(self.smooth - 1) :] if self.smooth > 1 else values[:0]
        return out

    def _ratios(self, window: PacketWindow) -> np.ndarray:
        """Per packet: log(size) over its class baseline; quiet frames update the baseline."""
        logs = np.log(np.maximum(window.sizes, 1).astype(np.float64))
        self._seed(window, logs)
        cap = math.log(max(1.0, float(np.median(self.key_sizes)) * self.quiet_cap)) if self.key_sizes else math.inf
        out = np.zeros(len(logs))
        bases = [self._base(cls, cap) for cls in range(N_CLASSES)]
        for i, (cls, value) in enumerate(zip(window.classes.tolist(), logs.tolist(), strict=True)):
            if cls == CLASS_I:
                self._place = 0
                continue
            self._place = min(self._place + 1, 1023)
            place = self.by_place.setdefault((cls, self._place), deque(maxlen=PLACE_HISTORY))
            base = min(_quantile(place, self.quantile), cap) if len(place) >= PLACE_MIN else bases[cls]
            out[i] = value - base
            if out[i] < self.log_hot:
                self.quiet[cls].append(value)
                place.append(value)
            else:
                self._hot_seen[cls] += 1
                if self._hot_seen[cls] % self.adapt_every == 0:
                    self.quiet[cls].append(value)
                    place.append(value)
            if i % 16 == 15:  # refresh the class quantile now and then, not on every frame
                bases[cls] = self._base(cls, cap)
        return out

    def _base(self, cls: int, cap: float) -> float:
        quiet = self.quiet[cls]
        if not quiet:
            return cap
        return min(_quantile(quiet, self.quantile), cap)

    def _seed(self, window: PacketWindow, logs: np.ndarray) -> None:
        """A class seen for the first time starts from its sizes in the window (capped, see above)."""
        for cls in range(N_CLASSES):
            if cls != CLASS_I and not self.quiet[cls]:
                self.quiet[cls].extend(logs[window.classes == cls].tolist())


def _quantile(values: deque[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of a short sequence; cheaper than numpy on 24 values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class HotGrouper:
    """Streams hot-frame times into candidate intervals: runs of hot frames, padded.

    A group closes after ``gap_s`` without a hot frame; groups with fewer than ``min_hot`` hot
    frames (a lone noisy frame) are dropped; the rest are padded by ``margin_s``.
    """

    def __init__(self, *, gap_s: float = 2.0, min_hot: int = 2, margin_s: float = 1.0) -> None:
        self.gap_s, self.min_hot, self.margin_s = gap_s, min_hot, margin_s
        self._start: float | None = None
        self._last = 0.0
        self._count = 0

    def feed(self, times: np.ndarray) -> Iterator[Span]:
        """Add hot-frame times (ascending); yield the candidate intervals they close."""
        for t in times.tolist():
            if self._start is not None and t - self._last > self.gap_s:
                yield from self.flush()
            if self._start is None:
                self._start, self._count = t, 0
            self._last = t
            self._count += 1

    def state(self) -> list[Any]:
        """The open group as JSON (to resume a scan)."""
        return [self._start, self._last, self._count]

    def restore(self, state: list[Any]) -> None:
        """Continue from :meth:`state`."""
        self._start, self._last, self._count = state

    def expire(self, now_s: float) -> Iterator[Span]:
        """No hot frame earlier than ``now_s`` is still to come: close the open group if it already
        lies more than ``gap_s`` behind (as the next hot frame would), so its span need not wait."""
        if self._start is not None and now_s - self._last > self.gap_s:
            yield from self.flush()

    def open_start(self) -> float:
        """Where the group still open starts (infinity when none is open): no later span starts before."""
        return math.inf if self._start is None else self._start - self.margin_s

    def flush(self) -> Iterator[Span]:
        """Close the open group, if any."""
        if self._start is not None and self._count >= self.min_hot:
            yield Span(max(0.0, self._start - self.margin_s), self._last + self.margin_s, "candidate")
        self._start = None


def merge_spans(spans: Iterator[Span], slack_s: float) -> Iterator[Span]:
    """Merge spans that overlap or lie closer than ``slack_s`` (decoding on beats seeking back)."""
    merger = SpanMerger(slack_s)
    for span in spans:
        yield from merger.feed(span)
    yield from merger.flush()


class SpanMerger:
    """:func:`merge_spans` fed one span at a time; :attr:`current` is the span still growing."""

    def __init__(self, slack_s: float) -> None:
        self.slack_s = slack_s
        self.current: Span | None = None

    def feed(self, span: Span) -> Iterator[Span]:
        """Add a span (in start order); yield the merged span it closes, if any."""
        current = self.current
        if current is not None and span.start_s - current.end_s <= self.slack_s:
            reason = current.reason if current.reason == span.reason else "fallback"
            self.current = Span(current.start_s, max(current.end_s, span.end_s), reason)
            return
        if current is not None:
            yield current
        self.current = span

    def flush(self) -> Iterator[Span]:
        """Yield the span still growing, if any."""
        if self.current is not None:
            yield self.current
        self.current = None
