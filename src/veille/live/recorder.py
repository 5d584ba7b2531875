"""The pre-event packet buffer and the clip writer: events recorded by copying packets, never re-encoded."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

#: Codecs an MP4 holds as they are; the others are recorded in Matroska.
MP4_CODECS = frozenset({"h264", "hevc", "av1", "mpeg4"})
MILLISECOND = Fraction(1, 1000)
#: Most packets the buffer holds whatever the keyframes (a stream without keyframes must not grow it).
MAX_BUFFERED = 3000


class PreBuffer:
    """The latest packets, from the last keyframe at least ``pre_s`` old: an event's clip starts there.

    Holds ``(t, packet)`` pairs in arrival order. A clip must start on a keyframe, so the buffer
    keeps everything from the newest keyframe that lies ``pre_s`` or more before the newest packet.
    """

    def __init__(self, pre_s: float, max_packets: int = MAX_BUFFERED) -> None:
        self.pre_s = pre_s
        self._items: deque[tuple[float, Any]] = deque(maxlen=max_packets)
        self._keys: deque[int] = deque()  # absolute numbers of keyframe packets still held
        self._first = 0  # absolute number of _items[0]

    def __len__(self) -> int:
        return len(self._items)

    def add(self, t: float, packet: Any) -> None:
        """Append a packet and drop what no clip can need any more."""
        if len(self._items) == self._items.maxlen:
            self._first += 1
        self._items.append((t, packet))
        if packet.is_keyframe:
            self._keys.append(self._first + len(self._items) - 1)
        while self._keys and self._keys[0] < self._first:
            self._keys.popleft()
        self._trim(t)

    def _trim(self, now: float) -> None:
        while len(self._keys) >= 2 and self._items[self._keys[1] - self._first][0] <= now - self.pre_s:
            self._keys.popleft()
        if self._keys:
            drop = self._keys[0] - self._first
            for _ in range(drop):
                self._items.popleft()
            self._first += drop

    def since_key(self) -> list[tuple[float, Any]]:
        """The ``(t, packet)`` from the newest keyframe on, the newest left out (it is being fed)."""
        if not self._keys:
            return []
        start = self._keys[-1] - self._first
        return list(self._items)[start:-1]

    def from_time(self, t: float) -> list[tuple[float, Any]]:
        """The packets from the newest keyframe at or before ``t`` (the oldest one held when none is)."""
        items = list(self._items)
        keys = [k - self._first for k in self._keys]
        before = [k for k in keys if items[k][0] <= t + 1e-6]
        start = before[-1] if before else (keys[0] if keys else 0)
        return items[start:]

    def clear(self) -> None:
        """Forget everything (the connection ended)."""
        self._items.clear()
        self._keys.clear()
        self._first = 0


class ClipWriter:
    """An MP4 being written from copied packets; it appears under its name only when :meth:`close` d.

    The first packet written must be a keyframe (earlier ones are dropped); timestamps are made to
    start at 0 and decoding times kept strictly increasing, as the MP4 muxer needs.
    """

    def __init__(self, path: Path, stream: Any, *, clock: bool = False) -> None:
        self.clock = clock  # the stream's timestamps mean nothing: time packets by their arrival
        self.path = Path(path)
        if stream.codec_context.name not in MP4_CODECS:
            self.path = self.path.with_suffix(".mkv")  # Matroska holds MJPEG and the rest as they are
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        fmt = "mp4" if self.path.suffix == ".mp4" else "matroska"
        self._container = av.open(str(self.tmp), "w", format=fmt)
        self._out = self._container.add_stream_from_template(stream)
        self._offset: int | None = None
        self._last_dts: int | None = None
        self.packets = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    def write(self, t: float, packet: Any) -> None:
        """Copy one packet in (its data is copied: the packet stays usable by the caller)."""
        if packet.pts is None and not self.clock:
            return
        if self._offset is None:
            if not packet.is_keyframe:
                return
            self._offset = 0 if self.clock else packet.pts if packet.dts is None else min(packet.pts, packet.dts)
            self.first_t = t
        if self.clock:
            time_base, pts = MILLISECOND, round((t - (self.first_t or 0.0)) * 1000)
            dts = pts
        else:
            time_base, pts = packet.time_base, packet.pts - self._offset
            dts = (packet.dts if packet.dts is not None else packet.pts) - self._offset
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
        pts = max(pts, dts)
        copy = av.Packet(bytes(packet))
        copy.pts, copy.dts, copy.time_base = pts, dts, time_base
        copy.is_keyframe = packet.is_keyframe
        copy.stream = self._out
        self._container.mux(copy)
        self._last_dts = dts
        self.packets += 1
        self.last_t = t

    def close(self) -> Path | None:
        """Finish the file and put it in place; None (and nothing left behind) when no packet was written."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError):
            self.packets = 0
        if not self.packets:
            with contextlib.suppress(OSError):
                self.tmp.unlink()
            return None
        os.replace(self.tmp, self.path)
        return self.path

    def abandon(self) -> None:
        """Close and delete the partial file."""
        with contextlib.suppress(Exception):
            self._container.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
