"""The activity scan: which stretches of a video hold movement, cut into chunks with keyframes.

This is the entry point the pipeline calls; its internals (packet pass, pixel pass) can change
without touching the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from veille.settings import ScanSettings
from veille.types import Chunk, Keyframe, MotionSample, ScanStretch, Segment, VideoInfo
from veille.video.decode import analysis_size, grab_frames, iter_gray
from veille.video.motion import MotionDetector
from veille.video.segments import (
    ActiveStretch,
    heartbeat_times,
    pick_keyframe_times,
    segment_samples,
    split_chunks,
    union_boxes,
)

ProgressFn = Callable[[float], None]  # called with seconds of video done


@dataclass(slots=True)
class ScanResult:
    """What the scan found and how much work it took."""

    segments: list[Segment] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    stretches: list[ScanStretch] = field(default_factory=list)
    packets_scanned: int = 0
    frames_decoded: int = 0
    scan_s: float = 0.0
    warnings: list[str] = field(default_factory=list)


def scan_video(info: VideoInfo, cfg: ScanSettings, *, progress: ProgressFn | None = None) -> ScanResult:
    """Scan ``info.path`` for activity and build chunks with full-resolution keyframes."""
    started = time.perf_counter()
    result = ScanResult()
    stretches = list(segment_samples(_pixel_samples(info, cfg, result, progress), cfg, duration_s=info.duration_s))
    result.stretches.append(ScanStretch(0.0, info.duration_s, "pixels", "decode-every-frame scan"))
    result.segments = [s.segment for s in stretches]
    result.chunks = build_chunks(info, stretches, cfg)
    result.scan_s = time.perf_counter() - started
    return result


def _pixel_samples(
    info: VideoInfo, cfg: ScanSettings, result: ScanResult, progress: ProgressFn | None
) -> Iterator[MotionSample]:
    size = analysis_size(info.width, info.height, cfg.analysis_height)
    detector = MotionDetector(
        size,
        scale=info.width / size[0],
        pixel_threshold=cfg.pixel_threshold,
        lighting_threshold=cfg.lighting_threshold,
        masks=cfg.masks,
    )
    for frame in iter_gray(info.path, target_h=cfg.analysis_height, warnings=result.warnings):
        result.frames_decoded += 1
        if progress is not None and frame.index % 64 == 0:
            progress(frame.t_s)
        yield detector.update(frame.gray, frame.t_s)


def build_chunks(info: VideoInfo, stretches: list[ActiveStretch], cfg: ScanSettings) -> list[Chunk]:
    """Cut segments into chunks, pick keyframes at motion peaks and decode them at full size."""
    plans: list[tuple[int, float, float, list[tuple[float, float]], ActiveStretch | None]] = []
    for stretch in stretches:
        for start, end in split_chunks(stretch.segment, cfg.chunk_s):
            inside = [s for s in stretch.samples if start <= s.t_s < end]
            picks = pick_keyframe_times(inside, start, end, cfg.keyframes_per_chunk)
            plans.append((stretch.segment.id, start, end, picks, stretch))
    for t in heartbeat_times([s.segment for s in stretches], info.duration_s, cfg.heartbeat_min * 60):
        plans.append((-1, t, min(info.duration_s, t + 1.0), [(t, 0.0)], None))
    plans.sort(key=lambda p: p[1])
    wanted = [t for plan in plans for t, _ in plan[3]]
    frames = dict(grab_frames(info.path, wanted)) if wanted else {}
    by_time = sorted(frames.items())
    chunks = []
    for chunk_id, (seg_id, start, end, picks, stretch) in enumerate(plans):
        keyframes = tuple(Keyframe(t, _nearest(by_time, t), score) for t, score in picks if by_time)
        inside = [s for s in stretch.samples if start <= s.t_s < end] if stretch else []
        boxes, regions = union_boxes(inside)
        chunks.append(
            Chunk(
                chunk_id,
                seg_id,
                start,
                end,
                keyframes,
                boxes,
                regions,
                max((s.score for s in inside), default=0.0),
                heartbeat=stretch is None,
            )
        )
    return chunks


def _nearest(by_time: list, t: float):
    return min(by_time, key=lambda item: abs(item[0] - t))[1]
