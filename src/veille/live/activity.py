"""Activity on a live stream: packet sizes gate a cheap low-resolution pixel pass.

The scan's packet baseline (:class:`~veille.video.packets.PacketBaseline`) runs on live packets
in short windows: as long as no frame is hot, nothing is decoded. A hot frame starts the pixel
pass from the last keyframe (the recorder's buffer holds it) and decoding follows the motion
until none has been seen for ``follow_s``. Where packet sizes carry no motion signal (constant
bitrate, MJPEG, intra-only) — judged on each stretch of at least two keyframes — every frame is
decoded, small and fast, as the scan's pixel pass does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from veille.settings import ScanSettings
from veille.types import MotionSample
from veille.video.bitstream import CLASS_I, frame_class, length_size
from veille.video.decode import INTRA_ONLY_CODECS, analysis_size, fast_decoding, small_gray
from veille.video.motion import MotionDetector
from veille.video.packets import PacketBaseline, PacketWindow

#: Packets are judged in windows this long: short, so a hot frame is known within a fraction of a second.
HOT_WINDOW_S = 0.25
#: Packet sizes are judged informative (or not) over stretches at least this long.
JUDGE_S = 6.0


@dataclass(slots=True)
class Sample:
    """One decoded frame's motion, and the frame itself (for thumbnails)."""

    motion: MotionSample
    frame: Any


class LiveActivity:
    """Feed packets as they arrive (:meth:`feed`); get the motion of each frame decoded.

    Args:
        stream: the PyAV video stream the packets come from (its decoder is used).
        cfg: the scan settings (thresholds, masks, analysis height, follow time).
    """

    def __init__(self, stream: Any, cfg: ScanSettings, *, clock: bool = False) -> None:
        self.stream, self.cfg, self.clock = stream, cfg, clock
        ctx = stream.codec_context
        self.codec = ctx.name
        self.nal_length = length_size(self.codec, ctx.extradata)
        self.baseline = PacketBaseline(hot_ratio=cfg.packet_hot_ratio, informative_ratio=cfg.packet_informative_ratio)
        self.mode = "pixels"  # until packet sizes are judged informative
        self.reason = "packet sizes not judged yet"
        if cfg.mode == "pixels" or self.codec in INTRA_ONLY_CODECS:
            self.reason = "pixel scan requested" if cfg.mode == "pixels" else f"intra-only stream ({self.codec})"
        self._fixed = cfg.mode != "auto" or self.codec in INTRA_ONLY_CODECS
        if cfg.mode == "packets":
            self.mode, self.reason = "packets", "packet scan requested"
        self._rows: list[tuple[float, int, int]] = []
        self._judge: list[tuple[float, int, int]] = []
        self.decoding = False
        self.decode_until = -np.inf
        self.detector: MotionDetector | None = None
        self.size: tuple[int, int] | None = None
        self.frame_size = (ctx.width, ctx.height)  # the decoded frames' (w, h) once one was seen
        self.frames_decoded = 0
        self.packets = 0
        self.bad = 0
        fast_decoding(stream, self.codec, cfg.analysis_height)

    def feed(self, packet: Any, t: float, since_key: Iterable[tuple[float, Any]] = ()) -> Iterator[Sample]:
        """One packet at stream time ``t``; yields the motion of the frames it lets decode.

        ``since_key`` gives the ``(t, packet)`` from the last keyframe up to this one (excluded): when a
        hot frame starts the pixel pass, they are decoded first, so the detector starts from a picture.
        With ``clock``, a frame's time is that of the packet it came out of (its own means nothing).
        """
        self.packets += 1
        row = (t, packet.size, frame_class(self.codec, bytes(packet), self.nal_length, packet.is_keyframe))
        self._rows.append(row)
        if not self._fixed:
            self._judge.append(row)
        if self._rows[-1][0] - self._rows[0][0] >= HOT_WINDOW_S or len(self._rows) >= 8:
            self._hot_window()
        self._judge_sizes()
        if not self.decoding and (self.mode == "pixels" or self.decode_until >= t):
            self.decoding = True
            if self.detector is not None:
                self.detector.reset()
            for old_t, old in since_key:
                yield from self._decode(old, old_t)
        if self.decoding:
            yield from self._decode(packet, t)
            if self.mode == "packets" and t > self.decode_until:
                self.decoding = False

    def _hot_window(self) -> None:
        rows = sorted(self._rows)
        self._rows = []
        arr = np.array(rows, dtype=np.float64)
        window = PacketWindow(arr[0, 0], arr[-1, 0], arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int8))
        hot = self.baseline.hot(window)
        if hot.any():
            self.decode_until = max(self.decode_until, float(window.times[hot].max()) + self.cfg.follow_s)

    def _judge_sizes(self) -> None:
        rows = self._judge
        if self._fixed or not rows or rows[-1][0] - rows[0][0] < JUDGE_S:
            return
        if sum(1 for r in rows if r[2] == CLASS_I) < 2:
            if rows[-1][0] - rows[0][0] > 4 * JUDGE_S:
                self.mode, self.reason = "pixels", "keyframes too far apart to judge packet sizes"
                self._judge = rows[-len(rows) // 2 :]
            return
        arr = np.array(sorted(rows), dtype=np.float64)
        window = PacketWindow(arr[0, 0], arr[-1, 0], arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int8))
        useful, self.reason = self.baseline.informative(window)
        self.mode = "packets" if useful else "pixels"
        self._judge = []

    def _decode(self, packet: Any, packet_t: float) -> Iterator[Sample]:
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError):
            self.bad += 1
            return
        for frame in frames:
            if self.detector is None:
                self._make_detector(frame)
            assert self.detector is not None and self.size is not None
            t = packet_t if self.clock or frame.pts is None else float(frame.pts * frame.time_base)
            self.frames_decoded += 1
            motion = self.detector.update(small_gray(frame, self.size), t)
            if motion.score >= self.cfg.motion_threshold and not motion.lighting_change:
                self.decode_until = max(self.decode_until, t + self.cfg.follow_s)
            yield Sample(motion, frame)

    def _make_detector(self, frame: Any) -> None:
        width, height = frame.width, frame.height
        self.frame_size = (width, height)
        self.size = analysis_size(width, height, self.cfg.analysis_height)
        self.detector = MotionDetector(
            self.size,
            scale=width / self.size[0],
            pixel_threshold=self.cfg.pixel_threshold,
            lighting_threshold=self.cfg.lighting_threshold,
            masks=self.cfg.masks,
        )
