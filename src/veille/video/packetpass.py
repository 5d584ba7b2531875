"""The scan's packet pass as a resumable stage: packet windows in, spans to decode out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from veille.settings import ScanSettings
from veille.types import ScanStretch, VideoInfo
from veille.video.bitstream import CLASS_I
from veille.video.decode import INTRA_ONLY_CODECS
from veille.video.keycheck import KeyframeCheck
from veille.video.packets import HotGrouper, PacketBaseline, PacketReader, PacketWindow, ReadPoint, Span

#: Hot-frame times are kept this long to tell whether packet sizes explained a keyframe change.
RECENT_HOT_S = 60.0


class PacketPass:
    """Spans to decode (candidates, keyframe changes, fallback windows), in time order, window by window.

    Spans come out of order (a keyframe change is known only once the decoder hands back the
    keyframe after it), so they wait in ``pending`` until nothing earlier can still appear
    (:attr:`bound`). Stretches, keyframe times and the packet count go to ``result``.
    """

    def __init__(self, info: VideoInfo, cfg: ScanSettings, result: Any) -> None:
        self.info, self.cfg, self.result = info, cfg, result
        self.whole: str | None = "pixel scan requested" if cfg.mode == "pixels" else None
        if cfg.mode == "auto" and info.codec in INTRA_ONLY_CODECS:
            self.whole = f"intra-only stream ({info.codec}): packet sizes carry no motion signal"
        self.baseline = PacketBaseline(hot_ratio=cfg.packet_hot_ratio, informative_ratio=cfg.packet_informative_ratio)
        self.grouper = HotGrouper(gap_s=cfg.merge_gap_s, min_hot=cfg.packet_min_hot, margin_s=cfg.candidate_margin_s)
        self.keycheck = _keycheck(cfg)
        self.pending: list[Span] = []
        self.recent_hot = np.zeros(0)
        self.bound = 0.0  # no span still to come starts before this
        self.reached_s = 0.0  # packets read up to here
        self.done = False
        self.counter = [0]
        self.reader: PacketReader | None = None
        self._start: ReadPoint | None = None

    def open(self) -> None:
        """Open the file at the start (or at the restored point): raises ``ResumeError`` if it cannot be found."""
        if self.done or self.whole or self.reader is not None:
            return
        self.counter[0] = self.result.packets_scanned
        window_s = self.cfg.packet_window_s
        self.reader = PacketReader(self.info.path, window_s, self.counter, self.keycheck, start=self._start)
        self.reader.open()

    def close(self) -> None:
        """Close the file."""
        if self.reader is not None:
            self.reader.close()

    def spans(self, progress: Callable[[float], None]) -> Iterator[list[Span]]:
        """Per packet window, the spans that are ready (in start order); the last list ends the pass."""
        if self.done:
            return
        if self.whole:
            self.result.stretches.append(ScanStretch(0.0, self.info.duration_s, "pixels", self.whole))
            self.done, self.bound, self.reached_s = True, np.inf, self.info.duration_s
            yield [Span(0.0, self.info.duration_s + 1.0, "fallback")]
            return
        assert self.reader is not None, "open() first"
        for window in self.reader:
            self.result.packets_scanned = self.counter[0]
            self.result.reach(window.end_s)
            self.result.keyframe_times += window.times[window.classes == CLASS_I].tolist()
            progress(window.start_s)
            yield self._window(window)
        self.result.packets_scanned = self.counter[0]
        self.pending += self.grouper.flush()
        self.done, self.bound, self.reached_s = True, np.inf, self.info.duration_s
        yield self._release()

    def _window(self, window: PacketWindow) -> list[Span]:
        cfg = self.cfg
        hot = _judge_window(window, self.baseline, cfg, self.result)
        if hot is not None:
            self.pending += self.grouper.feed(window.times[hot])
            keep = self.recent_hot[self.recent_hot > window.start_s - RECENT_HOT_S]
            self.recent_hot = np.concatenate([keep, window.times[hot]])
        else:
            self.pending += [*self.grouper.flush(), Span(window.start_s, window.end_s, "fallback")]
        self.pending += _unexplained(window.changes, self.recent_hot, cfg.candidate_margin_s)
        self.pending += self.grouper.expire(window.start_s)  # later windows hold no earlier frame
        settled = self.keycheck.settled_s() if self.keycheck else np.inf
        self.bound = min(self.grouper.open_start(), settled) - cfg.candidate_margin_s
        self.reached_s = window.end_s
        return self._release()

    def _release(self) -> list[Span]:
        self.pending.sort(key=lambda span: span.start_s)
        ready = [span for span in self.pending if span.start_s < self.bound]
        self.pending = self.pending[len(ready) :]
        return ready

    def resumable(self) -> bool:
        """Whether :meth:`state` names a point to continue from (between windows, timestamps known)."""
        return self.done or bool(self.whole) or (self.reader is not None and self.reader.next_point is not None)

    def state(self) -> dict[str, Any]:
        """The pass as JSON, between two windows (see :meth:`resumable`)."""
        point = self.reader.next_point if self.reader is not None and not self.done else None
        return {
            "done": self.done,
            "point": None if point is None else [point.pts, list(point.refeed)],
            "baseline": self.baseline.state(),
            "grouper": self.grouper.state(),
            "keycheck": self.keycheck.state() if self.keycheck is not None else None,
            "pending": [[s.start_s, s.end_s, s.reason] for s in self.pending],
            "recent_hot": self.recent_hot.tolist(),
            "bound": self.bound,
            "reached_s": self.reached_s,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` (then :meth:`open`)."""
        self.done = state["done"]
        point = state["point"]
        self._start = None if point is None else ReadPoint(point[0], tuple(point[1]))
        self.baseline.restore(state["baseline"])
        self.grouper.restore(state["grouper"])
        if self.keycheck is not None and state["keycheck"] is not None:
            self.keycheck.restore(state["keycheck"])
        self.pending = [Span(*s) for s in state["pending"]]
        self.recent_hot = np.asarray(state["recent_hot"], dtype=np.float64)
        self.bound, self.reached_s = state["bound"], state["reached_s"]


def _judge_window(window: PacketWindow, baseline: PacketBaseline, cfg: ScanSettings, result: Any) -> np.ndarray | None:
    """The window's hot frames when its packet sizes can be trusted, else None (decode it whole)."""
    useful, reason = baseline.informative(window)
    hot = baseline.hot(window) if useful or cfg.mode == "packets" else None
    if cfg.mode == "packets":
        useful, reason = True, "packet scan requested"
    elif hot is not None and _saturated(hot, cfg.packet_saturation):
        useful, reason = False, f"packet sizes swing on {hot.mean():.0%} of frames (noise or constant bitrate)"
    _add_stretch(result.stretches, ScanStretch(window.start_s, window.end_s, "packets" if useful else "pixels", reason))
    return hot if useful else None


def _saturated(hot: np.ndarray, saturation: float) -> bool:
    """Too many hot frames to trust: scattered among quiet ones (noise), or nearly all of the window.

    Activity makes frames hot in runs: a person crossing for 20 s of a 30-s window heats 2/3 of it
    and still has a clean edge, so its window stays in packet mode. Noise heats frames here and
    there: fewer than 3 in 4 hot frames are followed by another.
    """
    share = float(hot.mean()) if hot.size else 0.0
    if share <= saturation:
        return False
    if share > min(1.0, 2 * saturation):
        return True
    after_hot = hot[1:][hot[:-1]]
    return after_hot.size > 0 and float(after_hot.mean()) < 0.75


def _unexplained(changes: tuple[tuple[float, float], ...], hot: np.ndarray, margin_s: float) -> list[Span]:
    """Spans for keyframe changes the packet sizes did not see (fewer than 4 hot frames inside)."""
    return [
        Span(max(0.0, a - margin_s), b + margin_s, "keyframe change")
        for a, b in changes
        if np.count_nonzero((hot >= a) & (hot <= b)) < 4
    ]


def _keycheck(cfg: ScanSettings) -> KeyframeCheck | None:
    if cfg.keyframe_check_s <= 0:
        return None
    return KeyframeCheck(
        every_s=cfg.keyframe_check_s,
        target_h=cfg.analysis_height,
        motion_threshold=cfg.motion_threshold,
        pixel_threshold=cfg.pixel_threshold,
        lighting_threshold=cfg.lighting_threshold,
        masks=cfg.masks,
    )


def _add_stretch(stretches: list[ScanStretch], new: ScanStretch) -> None:
    last = stretches[-1] if stretches else None
    if last is not None and last.mode == new.mode:
        stretches[-1] = ScanStretch(last.start_s, new.end_s, last.mode, last.reason)
    else:
        stretches.append(new)
