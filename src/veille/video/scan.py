"""The activity scan: which stretches of a video hold movement, cut into chunks with keyframes.

1. Packet pass (demux only): per window, is the packet-size signal informative? If so, runs of
   hot inter-frames become candidate intervals; if not (CBR, intra-only, MJPEG), the whole window
   becomes a fallback span.
2. Pixel pass: decode only those spans (threaded, downscaled gray) through the motion detector.
3. Segments (hysteresis, gaps, padding) → chunks of at most ``chunk_s`` with K keyframes each,
   decoded at full resolution one chunk at a time, plus quiet heartbeats.

Everything streams: the packet pass runs just ahead of the pixel pass, so memory does not grow
with the length of the video (only with the motion samples inside active segments).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from veille.settings import ScanSettings
from veille.types import Chunk, MotionSample, ScanStretch, Segment, VideoInfo
from veille.video.bitstream import CLASS_I
from veille.video.chunks import ChunkPlan, load_chunk, plan_chunks
from veille.video.decode import (
    INTRA_ONLY_CODECS,
    analysis_size,
    damaged_warning,
    decode_frames,
    fast_decoding,
    small_gray,
)
from veille.video.keycheck import KeyframeCheck
from veille.video.motion import MotionDetector
from veille.video.packets import HotGrouper, PacketBaseline, PacketWindow, Span, merge_spans, packet_windows
from veille.video.probe import open_container
from veille.video.segments import segment_samples

ProgressFn = Callable[[float], None]  # called with seconds of video done


@dataclass(slots=True)
class ScanResult:
    """What the scan found and how much work it took.

    ``chunks`` hold full-resolution keyframes when the scan ran with ``load_keyframes=True`` (the
    default); otherwise they are empty and ``chunk_plans`` + :meth:`iter_chunks` load them one
    chunk at a time.
    """

    segments: list[Segment] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    stretches: list[ScanStretch] = field(default_factory=list)
    packets_scanned: int = 0
    frames_decoded: int = 0
    scan_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    chunk_plans: list[ChunkPlan] = field(default_factory=list)
    decoded_s: float = 0.0  # seconds of video the pixel pass decoded
    keyframe_times: list[float] = field(default_factory=list)  # from the packet pass (empty without one)
    info: VideoInfo | None = None
    end_s: float | None = None  # where the last packet demuxed (or frame decoded) ends: where the video stops

    def iter_chunks(self) -> Iterator[Chunk]:
        """Chunks with their full-resolution keyframes, decoded one chunk at a time."""
        if self.chunks or self.info is None:
            yield from self.chunks
            return
        for plan in self.chunk_plans:
            yield load_chunk(self.info.path, plan, self.keyframe_times)


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
    started = time.perf_counter()
    result = ScanResult(info=info)
    done = _Progress(progress)
    spans = merge_spans(plan_spans(info, cfg, result, done), cfg.span_merge_s)
    samples = pixel_samples(info, spans, cfg, result, done)
    stretches = list(segment_samples(samples, cfg, duration_s=info.duration_s))
    result.segments = [s.segment for s in stretches]
    result.chunk_plans = plan_chunks(info, stretches, cfg, result.keyframe_times)
    if load_keyframes:
        result.chunks = [load_chunk(info.path, plan, result.keyframe_times) for plan in result.chunk_plans]
    result.scan_s = time.perf_counter() - started
    return result


class _Progress:
    """Forwards the furthest time reached by either pass, never going back."""

    def __init__(self, fn: ProgressFn | None) -> None:
        self.fn, self.best = fn, 0.0

    def __call__(self, t_s: float) -> None:
        if self.fn is not None and t_s > self.best:
            self.best = t_s
            self.fn(t_s)


def plan_spans(info: VideoInfo, cfg: ScanSettings, result: ScanResult, progress: ProgressFn) -> Iterator[Span]:
    """The packet pass: spans to decode (candidates, keyframe changes, fallback windows), in time order.

    Spans come out of order (a keyframe change is known only once the decoder hands back the
    keyframe after it), so they wait in ``pending`` until nothing earlier can still appear.
    """
    whole = "pixel scan requested" if cfg.mode == "pixels" else None
    if cfg.mode == "auto" and info.codec in INTRA_ONLY_CODECS:
        whole = f"intra-only stream ({info.codec}): packet sizes carry no motion signal"
    if whole:
        result.stretches.append(ScanStretch(0.0, info.duration_s, "pixels", whole))
        yield Span(0.0, info.duration_s + 1.0, "fallback")
        return
    baseline = PacketBaseline(hot_ratio=cfg.packet_hot_ratio, informative_ratio=cfg.packet_informative_ratio)
    grouper = HotGrouper(gap_s=cfg.merge_gap_s, min_hot=cfg.packet_min_hot, margin_s=cfg.candidate_margin_s)
    counter = [0]
    keycheck = _keycheck(info, cfg)
    pending: list[Span] = []
    recent_hot = np.zeros(0)
    for window in packet_windows(info.path, cfg.packet_window_s, counter, keycheck):
        result.packets_scanned = counter[0]
        result.end_s = max(result.end_s or 0.0, window.end_s)
        result.keyframe_times += window.times[window.classes == CLASS_I].tolist()
        progress(window.start_s)
        hot = _judge_window(window, baseline, cfg, result)
        if hot is not None:
            pending += grouper.feed(window.times[hot])
            recent_hot = np.concatenate([recent_hot[recent_hot > window.start_s - 60], window.times[hot]])
        else:
            pending += [*grouper.flush(), Span(window.start_s, window.end_s, "fallback")]
        pending += _unexplained(window.changes, recent_hot, cfg.candidate_margin_s)
        pending.sort(key=lambda span: span.start_s)
        bound = min(grouper.open_start(), keycheck.settled_s() if keycheck else np.inf) - cfg.candidate_margin_s
        while pending and pending[0].start_s < bound:
            yield pending.pop(0)
    pending += grouper.flush()
    yield from sorted(pending, key=lambda span: span.start_s)
    result.packets_scanned = counter[0]


def _judge_window(
    window: PacketWindow, baseline: PacketBaseline, cfg: ScanSettings, result: ScanResult
) -> np.ndarray | None:
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


def _keycheck(info: VideoInfo, cfg: ScanSettings) -> KeyframeCheck | None:
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


def pixel_samples(
    info: VideoInfo, spans: Iterator[Span], cfg: ScanSettings, result: ScanResult, progress: ProgressFn
) -> Iterator[MotionSample]:
    """The pixel pass: decode each span through the motion detector.

    A span is decoded from the keyframe before it, or, when it starts at or just after where
    decoding already is, by decoding on. Decoding follows the motion: a span ends only once no
    motion has been seen for ``cfg.follow_s`` (packet sizes often mark where movement starts
    better than how long it lasts).
    """
    size = analysis_size(info.width, info.height, cfg.analysis_height)
    detector = MotionDetector(
        size,
        scale=info.width / size[0],
        pixel_threshold=cfg.pixel_threshold,
        lighting_threshold=cfg.lighting_threshold,
        masks=cfg.masks,
    )
    last_t = -1.0
    bad = [0]
    with open_container(info.path) as container:
        stream = container.streams.video[0]
        fast_decoding(stream, info.codec, cfg.analysis_height)
        tb = float(stream.time_base or 0) or 1 / 90000
        rate = float(stream.average_rate or 25)
        frames: Iterator | None = None
        for span in spans:
            if frames is None or span.start_s > last_t + cfg.span_merge_s:
                container.seek(int(max(0.0, span.start_s) / tb), stream=stream, backward=True)
                detector.reset()
                frames = decode_frames(container, stream, bad)
            end, first = span.end_s, None
            for frame in frames:
                t = float(frame.pts * tb) if frame.pts is not None else last_t + 1 / rate
                first = t if first is None else first
                result.frames_decoded += 1
                sample = detector.update(small_gray(frame, size), t)
                if sample.score >= cfg.motion_threshold:
                    end = max(end, t + cfg.follow_s)
                if result.frames_decoded % 64 == 0:
                    progress(t)
                if t > last_t:
                    last_t = t
                    yield sample
                if t >= end:
                    break
            if first is not None:
                result.decoded_s += max(0.0, last_t - first)
        if last_t >= 0:
            result.end_s = max(result.end_s or 0.0, last_t + 1 / rate)
    if bad[0]:
        result.warnings.append(damaged_warning(bad[0]))
