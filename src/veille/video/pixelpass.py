"""The scan's pixel pass as a resumable stage: spans in, one motion sample per new frame out."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from veille.settings import ScanSettings
from veille.types import MotionSample, VideoInfo
from veille.video.checkpoint import SEEK_BACKOFF_S, ResumeError, array_from, array_state
from veille.video.decode import analysis_size, damaged_warning, decode_frames, fast_decoding, small_gray
from veille.video.motion import MotionDetector
from veille.video.packets import Span
from veille.video.probe import open_container


class PixelPass:
    """Decodes spans (downscaled, fast) through the motion detector.

    A span is decoded from the keyframe before it, or, when it starts at or just after where
    decoding already is, by decoding on. Decoding follows the motion: a span ends only once no
    motion has been seen for ``cfg.follow_s`` (packet sizes often mark where movement starts
    better than how long it lasts).

    Between two frames the pass can give its state (:meth:`state`); restored, it seeks back to the
    keyframe before the last frame it had analysed and decodes on from there, unseen.
    """

    def __init__(self, info: VideoInfo, cfg: ScanSettings, result: Any) -> None:
        self.info, self.cfg, self.result = info, cfg, result
        self.size = analysis_size(info.width, info.height, cfg.analysis_height)
        self.detector = MotionDetector(
            self.size,
            scale=info.width / self.size[0],
            pixel_threshold=cfg.pixel_threshold,
            lighting_threshold=cfg.lighting_threshold,
            masks=cfg.masks,
        )
        self.last_t = -1.0  # the latest frame time analysed
        self.pos_t: float | None = None  # the last frame analysed by the running decoder
        self.span: list[Any] | None = None  # the span being decoded: [span, end (followed), first frame time]
        self.bad = [0]
        self._container: Any = None
        self._stream: Any = None
        self._frames: Iterator[Any] | None = None
        self._live = False  # restored while a decoder was running
        self._tb, self._rate = 1 / 90000, 25.0

    def open(self) -> None:
        """Open the file; when restored inside a run of decoding, go back to where it was."""
        if self._container is not None:
            return
        self._container = open_container(self.info.path)
        self._stream = self._container.streams.video[0]
        fast_decoding(self._stream, self.info.codec, self.cfg.analysis_height)
        self._tb = float(self._stream.time_base or 0) or 1 / 90000
        self._rate = float(self._stream.average_rate or 25)
        if self._live:
            self._frames = self._rejoin(self.pos_t) if self.pos_t is not None else iter(())

    def close(self) -> None:
        """Close the file and say how many packets were damaged."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def decode(self, span: Span) -> Iterator[MotionSample | None]:
        """Decode ``span``: per frame, its motion sample when it is later than any before, else None."""
        if self._frames is None or span.start_s > self.last_t + self.cfg.span_merge_s:
            self._container.seek(int(max(0.0, span.start_s) / self._tb), stream=self._stream, backward=True)
            self.detector.reset()
            self._frames = decode_frames(self._container, self._stream, self.bad)
            self.pos_t = None
        self.span = [span, span.end_s, None]
        yield from self._run()

    def resume(self) -> Iterator[MotionSample | None]:
        """Finish the span a restored pass was decoding (nothing when it was between spans)."""
        if self.span is None:
            return
        if self.pos_t is not None and self.pos_t >= self.span[1]:  # it had stopped on its last frame
            self._end_span()
            return
        yield from self._run()

    def _run(self) -> Iterator[MotionSample | None]:
        assert self.span is not None and self._frames is not None
        cfg, result = self.cfg, self.result
        for frame in self._frames:
            t = float(frame.pts * self._tb) if frame.pts is not None else self.last_t + 1 / self._rate
            self.span[2] = t if self.span[2] is None else self.span[2]
            result.frames_decoded += 1
            sample = self.detector.update(small_gray(frame, self.size), t)
            if sample.score >= cfg.motion_threshold:
                self.span[1] = max(self.span[1], t + cfg.follow_s)
            self.pos_t = t
            new = t > self.last_t
            if new:
                self.last_t = t
            yield sample if new else None
            if t >= self.span[1]:
                break
        self._end_span()

    def _end_span(self) -> None:
        assert self.span is not None
        if self.span[2] is not None:
            self.result.decoded_s += max(0.0, self.last_t - self.span[2])
        if self.last_t >= 0:
            self.result.reach(self.last_t + 1 / self._rate)
        self.span = None

    def _rejoin(self, pos_t: float) -> Iterator[Any]:
        """A decoder that goes on after the frame at ``pos_t``, from a keyframe before it (frames up to
        ``pos_t`` decoded again, unseen). A seek may land on the keyframe just after the target (demuxers
        seek by decoding time), so it backs off until the first frame is not later than ``pos_t``."""
        for back_s in SEEK_BACKOFF_S:
            self._container.seek(int(max(0.0, pos_t - back_s) / self._tb), stream=self._stream, backward=True)
            frames = decode_frames(self._container, self._stream, self.bad)
            first = next(frames, None)
            if first is None or first.pts is None:
                break
            t = float(first.pts * self._tb)
            if t > pos_t + 1e-9:
                if pos_t - back_s <= 0:
                    break
                continue
            while abs(t - pos_t) > 1e-9:
                frame = next(frames, None)
                t = float(frame.pts * self._tb) if frame is not None and frame.pts is not None else math.inf
                if t > pos_t + 1e-9:
                    raise ResumeError("the decoder could not go back to where the scan stopped")
            return frames
        raise ResumeError("the decoder could not go back to where the scan stopped")

    def warnings(self) -> list[str]:
        """What went wrong while decoding (damaged packets)."""
        return [damaged_warning(self.bad[0])] if self.bad[0] else []

    def state(self, *, detach: bool = False) -> dict[str, Any]:
        """The pass as JSON, between two frames; ``detach``: without the running decoder and the
        detector's background (when the next span will seek anyway)."""
        span = self.span
        live = self._frames is not None and not detach
        return {
            "last_t": self.last_t,
            "live": live,
            "pos_t": self.pos_t if live else None,
            "span": None if span is None else [span[0].start_s, span[0].end_s, span[0].reason, span[1], span[2]],
            "background": array_state(self.detector.background()) if live else None,
            "bad": self.bad[0],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (then :meth:`open`)."""
        self.last_t, self.pos_t, self.bad[0] = state["last_t"], state["pos_t"], state["bad"]
        self._live = state["live"]
        span = state["span"]
        self.span = None if span is None else [Span(span[0], span[1], span[2]), span[3], span[4]]
        self.detector.set_background(array_from(state["background"]))
