"""Demux only: a video's packets (time, size, frame class) in windows, resumable between windows."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from veille.video.bitstream import frame_class, length_size
from veille.video.checkpoint import SEEK_BACKOFF_S, ResumeError
from veille.video.keycheck import KeyframeCheck
from veille.video.probe import open_container


@dataclass(frozen=True, slots=True)
class PacketWindow:
    """The packets of one stretch of the video, sorted by presentation time."""

    start_s: float
    end_s: float
    times: np.ndarray  # float64 seconds
    sizes: np.ndarray  # int64 bytes
    classes: np.ndarray  # int8 frame classes (bitstream.CLASS_*)
    changes: tuple[tuple[float, float], ...] = ()  # keyframe-to-keyframe changes (see keycheck)


def packet_windows(
    path: Path, window_s: float, counter: list[int] | None = None, keycheck: KeyframeCheck | None = None
) -> Iterator[PacketWindow]:
    """Demux ``path`` and yield its packets in windows of about ``window_s`` seconds.

    Nothing is decoded, except the keyframes ``keycheck`` asks for. ``counter[0]`` is increased by
    the number of packets read.
    """
    yield from PacketReader(path, window_s, counter, keycheck)


@dataclass(frozen=True, slots=True)
class ReadPoint:
    """Where a resumed packet pass picks up: the packet that opens the next window (its pts), and the
    keyframes (pts) the keyframe check had fed without getting them back yet, to feed again."""

    pts: int
    refeed: tuple[int, ...] = ()


class PacketReader:
    """:func:`packet_windows` that can say where it is (:attr:`next_point`) and start from there.

    Between two windows, :attr:`next_point` is the packet that opens the next one (``None`` at the
    end, or when the stream has packets without timestamps, where no point can be named).
    :meth:`open` positions the reader (raising :class:`ResumeError` when ``start`` cannot be found);
    iterating opens it if needed and closes it at the end.
    """

    def __init__(
        self,
        path: Path,
        window_s: float,
        counter: list[int] | None = None,
        keycheck: KeyframeCheck | None = None,
        *,
        start: ReadPoint | None = None,
    ) -> None:
        self.path, self.window_s, self.counter, self.keycheck, self.start = path, window_s, counter, keycheck, start
        self.next_pts: int | None = None
        self.timed = True
        self._container: Any = None
        self._packets: Iterator[Any] = iter(())

    @property
    def next_point(self) -> ReadPoint | None:
        """Where a new reader would continue, between two windows."""
        if self.next_pts is None or not self.timed:
            return None
        return ReadPoint(self.next_pts, tuple(self.keycheck.held()) if self.keycheck is not None else ())

    def open(self) -> None:
        """Open the file and go to the start point (feeding the keyframe check what it held)."""
        if self._container is not None:
            return
        self._container = open_container(self.path)
        try:
            stream = self._container.streams.video[0]
            if self.keycheck is not None:
                self.keycheck.attach(stream)
            self._packets = self._position(stream)
            self.next_pts = self.start.pts if self.start is not None else None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the file (reading stops)."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[PacketWindow]:
        self.open()
        try:
            yield from self._windows(self._container.streams.video[0])
        finally:
            self.close()

    def _windows(self, stream: Any) -> Iterator[PacketWindow]:
        codec = stream.codec_context.name
        nal_length = length_size(codec, stream.codec_context.extradata)
        tb = float(stream.time_base or 0) or 1 / 90000
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        rows: list[tuple[float, int, int]] = []
        window_end = self.window_s
        for n, packet in enumerate(self._packets):
            t = float(packet.pts * tb) if packet.pts is not None else n / rate
            self.timed = self.timed and packet.pts is not None
            if n == 0 and self.start is not None:
                window_end = (math.floor(t / self.window_s) + 1) * self.window_s
            if t >= window_end and len(rows) > 1:
                _count(self.counter, len(rows))
                self.next_pts = packet.pts
                yield _window(rows, window_end - self.window_s, window_end, self.keycheck)
                rows = []
                window_end = (math.floor(t / self.window_s) + 1) * self.window_s
            rows.append((t, packet.size, frame_class(codec, bytes(packet), nal_length, packet.is_keyframe)))
            if self.keycheck is not None and packet.is_keyframe:
                self.keycheck.feed(t, packet)
        _count(self.counter, len(rows))
        if self.keycheck is not None:
            self.keycheck.finish()
        self.next_pts = None
        if rows:
            yield _window(rows, window_end - self.window_s, max(r[0] for r in rows) + 1 / rate, self.keycheck)

    def _position(self, stream: Any) -> Iterator[Any]:
        """The packets to read: all of them, or, resuming, those from :attr:`start` on (keyframes the
        keyframe check still held are fed to it again on the way)."""
        if self.start is None:
            return (p for p in self._container.demux(stream) if p.size)
        tb = float(stream.time_base or 0) or 1 / 90000
        for back_s in SEEK_BACKOFF_S:
            target = min([self.start.pts, *self.start.refeed]) - round(back_s / tb)
            try:
                self._container.seek(max(0, target), stream=stream, backward=True)
            except av.FFmpegError as exc:
                raise ResumeError(f"cannot seek back into the stream ({exc})") from None
            packets = (p for p in self._container.demux(stream) if p.size)
            found = self._find_start(packets)
            if found is not None:
                refeed, first = found
                if self.keycheck is not None:
                    for packet in refeed:
                        self.keycheck.refeed(packet)
                return itertools.chain([first], packets)
            if target <= 0:
                break
        raise ResumeError("the packet to resume from was not found")

    def _find_start(self, packets: Iterator[Any]) -> tuple[list[Any], Any] | None:
        """Read up to the start packet: the keyframes to feed again met on the way and the start packet,
        or None when the seek went past one of them."""
        assert self.start is not None
        wanted = set(self.start.refeed)
        found: list[Any] = []
        keyframes_after = 0
        for packet in packets:
            if packet.pts == self.start.pts:
                return (found, packet) if len(found) == len(wanted) else None
            if packet.pts in wanted and all(p.pts != packet.pts for p in found):
                found.append(packet)
            if packet.is_keyframe and packet.pts is not None and packet.pts > self.start.pts:
                keyframes_after += 1
                if keyframes_after >= 2:
                    return None
        return None


def _count(counter: list[int] | None, n: int) -> None:
    if counter is not None:
        counter[0] += n


def _window(
    rows: list[tuple[float, int, int]], start_s: float, end_s: float, keycheck: KeyframeCheck | None
) -> PacketWindow:
    rows.sort()
    arr = np.array(rows, dtype=np.float64)
    changes = tuple(keycheck.pop_changes()) if keycheck is not None else ()
    return PacketWindow(
        min(start_s, arr[0, 0]), end_s, arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int8), changes
    )
