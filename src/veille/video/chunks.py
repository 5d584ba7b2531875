"""Chunks: segments cut into pieces of at most ``chunk_s``, with K keyframes at motion peaks.

Planning needs only the motion samples; the full-resolution keyframe images are decoded one
chunk at a time by :func:`load_chunk`, so a long video never holds all of them at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from veille.settings import ScanSettings
from veille.types import Box, Chunk, Keyframe, VideoInfo
from veille.video.decode import grab_frames
from veille.video.segments import ActiveStretch, heartbeat_times, pick_keyframe_times, split_chunks, union_boxes


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """A chunk before its keyframe images are decoded."""

    id: int
    segment_id: int
    start_s: float
    end_s: float
    picks: tuple[tuple[float, float], ...]  # (time, motion score) of each keyframe
    motion_boxes: tuple[Box, ...] = ()
    max_regions: int = 0
    peak_score: float = 0.0
    heartbeat: bool = False
    pick_boxes: tuple[tuple[Box, ...], ...] = ()  # motion boxes seen on each keyframe


def plan_chunks(
    info: VideoInfo, stretches: list[ActiveStretch], cfg: ScanSettings, keyframes: Sequence[float] | None = None
) -> list[ChunkPlan]:
    """Cut segments into chunks, choose keyframe times, and add heartbeat samples of quiet stretches.

    ``keyframes``: the stream's keyframe times, to prefer picks that are cheap to decode again.
    """
    plans: list[ChunkPlan] = []
    for stretch in stretches:
        for start, end in split_chunks(stretch.segment, cfg.chunk_s):
            inside = [s for s in stretch.samples if start <= s.t_s < end]
            boxes, regions = union_boxes(inside)
            picks = tuple(pick_keyframe_times(inside, start, end, cfg.keyframes_per_chunk, keyframes))
            peak = max((s.score for s in inside), default=0.0)
            by_time = {s.t_s: s.boxes for s in inside}
            pick_boxes = tuple(by_time.get(t, ()) for t, _ in picks)
            plans.append(ChunkPlan(0, stretch.segment.id, start, end, picks, boxes, regions, peak, False, pick_boxes))
    segments = [s.segment for s in stretches]
    for t in heartbeat_times(segments, info.duration_s, cfg.heartbeat_min * 60):
        plans.append(ChunkPlan(0, -1, t, min(info.duration_s, t + 1.0), ((t, 0.0),), heartbeat=True))
    plans.sort(key=lambda p: p.start_s)
    return [dataclasses.replace(p, id=i) for i, p in enumerate(plans)]


def load_chunk(path: Path, plan: ChunkPlan, keyframes: Sequence[float] | None = None) -> Chunk:
    """Decode the plan's keyframes at full resolution (RGB) and return the finished chunk.

    ``keyframes``: the stream's keyframe times, if known (to seek rather than decode far).
    """
    frames = sorted(grab_frames(path, [t for t, _ in plan.picks], keyframes), key=lambda item: item[0])
    keyframes: tuple[Keyframe, ...] = ()
    if frames:
        boxes = plan.pick_boxes or ((),) * len(plan.picks)
        keyframes = tuple(
            Keyframe(t, min(frames, key=lambda item: abs(item[0] - t))[1], score, b)
            for (t, score), b in zip(plan.picks, boxes, strict=True)
        )
    return Chunk(
        plan.id,
        plan.segment_id,
        plan.start_s,
        plan.end_s,
        keyframes,
        plan.motion_boxes,
        plan.max_regions,
        plan.peak_score,
        heartbeat=plan.heartbeat,
    )
