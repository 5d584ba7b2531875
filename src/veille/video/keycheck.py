"""A safety net under the packet signal: compare keyframes decoded every few seconds.

Packet sizes say little when motion is cheap to encode (flat, untextured objects) or when an
encoder spends bits oddly. Keyframes are decoded anyway by nothing else, cost one intra decode
each, and need no reference frames; comparing one every ``every_s`` seconds with the previous one
catches any change that lasts longer than that interval, whatever the packet sizes did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import av

from veille.video.decode import analysis_size, small_gray
from veille.video.motion import MotionDetector
from veille.video.probe import frame_turn


class KeyframeCheck:
    """Decodes a keyframe at most every ``every_s`` seconds and records the intervals between two
    checked keyframes that differ (motion, not a global lighting change).

    Args:
        every_s: least time between two checked keyframes.
        target_h: analysis height of the compared frames.
        motion_threshold: share of changed pixels that counts as a change.
        pixel_threshold, lighting_threshold, masks: as for :class:`MotionDetector`.
    """

    def __init__(
        self,
        *,
        every_s: float = 8.0,
        target_h: int = 160,
        motion_threshold: float = 0.0005,
        pixel_threshold: int = 25,
        lighting_threshold: float = 0.8,
        masks: Sequence[Sequence[tuple[float, float]]] = (),
    ) -> None:
        self.every_s = every_s
        self.target_h = target_h
        self.motion_threshold = motion_threshold
        self._detector_args: dict[str, Any] = {
            "pixel_threshold": pixel_threshold,
            "lighting_threshold": lighting_threshold,
            "masks": masks,
        }
        self._ctx: av.video.codeccontext.VideoCodecContext | None = None
        self._detector: MotionDetector | None = None
        self._size = (0, 0)
        self._turned = False
        self._tb = 1 / 90000
        self._last_t: float | None = None  # last keyframe packet decoded
        self._frame_t: float | None = None  # last keyframe compared
        self.changes: list[tuple[float, float]] = []
        self.decoded = 0
        self._held: list[int] = []  # pts of keyframes fed but not handed back yet (B-frame reordering)
        self._background: Any = None  # a restored background, applied when the decoder is attached

    def attach(self, stream: av.video.stream.VideoStream) -> None:
        """Use ``stream``'s decoder (slice threads: a frame comes out of the packet that made it)."""
        self._ctx = stream.codec_context
        self._tb = float(stream.time_base or 0) or 1 / 90000
        self._ctx.thread_type = "SLICE"
        self._ctx.options = {"skip_loop_filter": "all"}  # compared ~160 px high: deblocking is lost anyway
        self._size = analysis_size(self._ctx.width, self._ctx.height, self.target_h)
        self._detector = MotionDetector(self._size, alpha=1.0, **self._detector_args)
        self._turned = False

    def _turn(self, frame: av.VideoFrame) -> None:
        """Frames are compared upright (where the masks are drawn): a sideways stream swaps the size.

        A background restored from a saved state (upright already) is applied here, to the detector
        of the upright size.
        """
        self._turned = True
        if frame_turn(frame) in (90, 270):
            self._size = (self._size[1], self._size[0])
            self._detector = MotionDetector(self._size, alpha=1.0, **self._detector_args)
        if self._background is not None and self._detector is not None:
            self._detector.set_background(self._background)
            self._background = None

    def feed(self, t_s: float, packet: av.Packet) -> None:
        """Offer a keyframe packet; it is decoded and compared when ``every_s`` has passed."""
        if self._ctx is None or self._detector is None:
            return
        if self._last_t is not None and t_s - self._last_t < self.every_s:
            return
        try:
            frames = self._ctx.decode(packet)
        except av.FFmpegError:
            return
        self._last_t = t_s
        if packet.pts is not None:
            self._held.append(packet.pts)
        self._compare(frames)

    def refeed(self, packet: av.Packet) -> None:
        """Decode again a keyframe that a resumed scan had fed but not yet compared (see :meth:`state`)."""
        if self._ctx is None:
            return
        try:
            frames = self._ctx.decode(packet)
        except av.FFmpegError:
            return
        self._compare(frames)

    def held(self) -> list[int]:
        """The pts of keyframes fed to the decoder and not handed back yet: a resumed scan feeds them again."""
        return list(self._held)

    def finish(self) -> None:
        """Drain the decoder: with B-frames the last keyframe fed comes out only now."""
        if self._ctx is None:
            return
        try:
            frames = self._ctx.decode(None)
        except av.FFmpegError:
            return
        self._compare(frames)

    def _compare(self, frames: list[av.VideoFrame]) -> None:
        if self._detector is None:
            return
        for frame in frames:  # with B-frames the decoder may hand back the previous keyframe now
            if not frame.key_frame or frame.pts is None:
                continue
            frame_t = float(frame.pts * self._tb)
            self._held = [pts for pts in self._held if pts > frame.pts]
            if not self._turned:
                self._turn(frame)
            self.decoded += 1
            sample = self._detector.update(small_gray(frame, self._size), frame_t)
            if self._frame_t is not None and sample.score >= self.motion_threshold:
                self.changes.append((self._frame_t, frame_t))
            self._frame_t = frame_t

    def settled_s(self) -> float:
        """No change found later can start before this time (the last keyframe compared)."""
        return self._frame_t if self._frame_t is not None else 0.0

    def state(self) -> dict[str, Any]:
        """Where the check is, as JSON (the decoder itself is rebuilt by re-feeding :meth:`held`)."""
        from veille.video.checkpoint import array_state

        background = self._background  # restored and not applied yet (no keyframe compared since)
        if background is None and self._detector is not None:
            background = self._detector.background()
        return {
            "last_t": self._last_t,
            "frame_t": self._frame_t,
            "decoded": self.decoded,
            "held": list(self._held),
            "changes": [list(c) for c in self.changes],
            "background": array_state(background),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (call before :meth:`attach`)."""
        from veille.video.checkpoint import array_from

        self._last_t, self._frame_t = state["last_t"], state["frame_t"]
        self.decoded = state["decoded"]
        self._held = list(state["held"])
        self.changes = [(a, b) for a, b in state["changes"]]
        self._background = array_from(state["background"])

    def pop_changes(self) -> list[tuple[float, float]]:
        """The changed intervals recorded since the last call."""
        changes, self.changes = self.changes, []
        return changes
