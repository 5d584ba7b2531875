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
from pathlib import Path

import numpy as np

from veille.video.bitstream import CLASS_B_REF, CLASS_I, CLASS_P, N_CLASSES, frame_class, length_size
from veille.video.probe import open_container

_CAPPED = (CLASS_P, CLASS_B_REF)


@dataclass(frozen=True, slots=True)
class PacketWindow:
    """The packets of one stretch of the video, sorted by presentation time."""

    start_s: float
    end_s: float
    times: np.ndarray  # float64 seconds
    sizes: np.ndarray  # int64 bytes
    classes: np.ndarray  # int8 frame classes (bitstream.CLASS_*)


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch the pixel pass must decode, and why."""

    start_s: float
    end_s: float
    reason: str  # "candidate" | "fallback"


def packet_windows(path: Path, window_s: float, counter: list[int] | None = None) -> Iterator[PacketWindow]:
    """Demux ``path`` (no decoding) and yield its packets in windows of about ``window_s`` seconds.

    ``counter[0]`` is increased by the number of packets read.
    """
    with open_container(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        nal_length = length_size(codec, stream.codec_context.extradata)
        tb = float(stream.time_base or 0) or 1 / 90000
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        rows: list[tuple[float, int, int]] = []
        window_end = window_s
        n = 0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            t = float(packet.pts * tb) if packet.pts is not None else n / rate
            n += 1
            if t >= window_end and len(rows) > 1:
                _count(counter, len(rows))
                yield _window(rows, window_end - window_s, window_end)
                rows = []
                window_end = (math.floor(t / window_s) + 1) * window_s
            rows.append((t, packet.size, frame_class(codec, bytes(packet), nal_length, packet.is_keyframe)))
        _count(counter, len(rows))
        if rows:
            yield _window(rows, window_end - window_s, max(r[0] for r in rows) + 1 / rate)


def _count(counter: list[int] | None, n: int) -> None:
    if counter is not None:
        counter[0] += n


def _window(rows: list[tuple[float, int, int]], start_s: float, end_s: float) -> PacketWindow:
    rows.sort()
    arr = np.array(rows, dtype=np.float64)
    return PacketWindow(
        min(start_s, arr[0, 0]), end_s, arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int8)
    )


class PacketBaseline:
    """Per-frame-class running baseline of quiet inter-frame sizes (in log bytes).

    Keyframes are excluded and each class (P, reference B, B) has its own level, so like is
    compared with like. Frames far above their level do not feed it, so it tracks the quiet
    level rather than the activity.

    Args:
        hot_ratio: a frame is hot when the median of its and the previous inter-frames' size
            ratios to their class baselines exceeds this.
        informative_ratio: a window's packet sizes are informative when the quarter-quantile of
            its inter-frame sizes is below this share of the typical keyframe size.
        smooth: how many frames of one class the median runs over (noise makes lone frames jump).
        quiet_cap: most a quiet P or reference-B frame may weigh, as a share of a keyframe.
    """

    def __init__(
        self, *, hot_ratio: float = 1.6, informative_ratio: float = 0.1, smooth: int = 3, quiet_cap: float = 0.1
    ) -> None:
        self.log_hot = math.log(hot_ratio)
        self.smooth = smooth
        self.quiet_cap = quiet_cap
        self._tails = [np.zeros(0) for _ in range(N_CLASSES)]
        self.informative_ratio = informative_ratio
        self.level: list[float | None] = [None] * N_CLASSES
        self.key_sizes: deque[int] = deque(maxlen=16)

    def informative(self, window: PacketWindow) -> tuple[bool, str]:
        """Whether packet sizes in ``window`` can tell motion from quiet, and why."""
        key = window.classes == CLASS_I
        self.key_sizes.extend(int(s) for s in window.sizes[key])
        inter = window.sizes[~key]
        if len(inter) < max(2, len(window.sizes) // 4):
            return False, "intra-only stream: packet sizes carry no motion signal"
        if not self.key_sizes:
            return False, "no keyframe seen yet to compare sizes with"
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
        """Per packet: log(size) over its class baseline; quiet frames update the baseline.

        For P and reference-B frames the baseline never exceeds ``quiet_cap`` of the typical
        keyframe: a stream that is busy from its first frame cannot teach the baseline that
        busy is quiet.
        """
        logs = np.log(np.maximum(window.sizes, 1).astype(np.float64))
        self._seed(window, logs)
        cap = math.log(float(np.median(self.key_sizes)) * self.quiet_cap) if self.key_sizes else math.inf
        out = np.zeros(len(logs))
        level = self.level
        for i, (cls, value) in enumerate(zip(window.classes.tolist(), logs.tolist(), strict=True)):
            if cls == CLASS_I:
                continue
            base = level[cls]
            if cls in _CAPPED:
                base = min(base, cap)
            out[i] = value - base
            if value - base < self.log_hot:
                level[cls] = base + 0.03 * (value - base)
        return out

    def _seed(self, window: PacketWindow, logs: np.ndarray) -> None:
        for cls in range(N_CLASSES):
            if cls != CLASS_I and self.level[cls] is None:
                values = logs[window.classes == cls]
                if len(values):
                    self.level[cls] = float(np.median(values))


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

    def flush(self) -> Iterator[Span]:
        """Close the open group, if any."""
        if self._start is not None and self._count >= self.min_hot:
            yield Span(max(0.0, self._start - self.margin_s), self._last + self.margin_s, "candidate")
        self._start = None


def merge_spans(spans: Iterator[Span], slack_s: float) -> Iterator[Span]:
    """Merge spans that overlap or lie closer than ``slack_s`` (decoding on beats seeking back)."""
    current: Span | None = None
    for span in spans:
        if current is not None and span.start_s - current.end_s <= slack_s:
            reason = current.reason if current.reason == span.reason else "fallback"
            current = Span(current.start_s, max(current.end_s, span.end_s), reason)
            continue
        if current is not None:
            yield current
        current = span
    if current is not None:
        yield current
