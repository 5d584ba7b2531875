"""Chunks: segments cut into pieces of at most ``chunk_s``, with K keyframes at motion peaks.

Planning needs only the motion samples; the full-resolution keyframe images are decoded one
chunk at a time by :func:`load_chunk`, so a long video never holds all of them at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veille.settings import ScanSettings
from veille.types import Box, Chunk, Keyframe, VideoInfo
from veille.video.checkpoint import box_from, box_state
from veille.video.decode import grab_frames
from veille.video.segments import ActiveStretch, pick_keyframe_times, quiet_beats, split_chunks, union_boxes


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
    planner = ChunkPlanner(info.duration_s, cfg, keyframes)
    plans = [plan for stretch in stretches for plan in planner.feed(stretch)]
    return plans + planner.finish()


class ChunkPlanner:
    """:func:`plan_chunks` fed one stretch at a time: each stretch gives the heartbeats of the quiet
    before it, then its own chunks, numbered in time order.

    ``keyframes``: the stream's keyframe times so far (a list the scan keeps growing).
    """

    def __init__(self, duration_s: float, cfg: ScanSettings, keyframes: Sequence[float] | None = None) -> None:
        self.duration_s, self.cfg, self.keyframes = duration_s, cfg, keyframes
        self.every_s = cfg.heartbeat_min * 60 if duration_s > 0 else 0.0
        self.next_id = 0
        self.quiet_start = 0.0

    def feed(self, stretch: ActiveStretch) -> list[ChunkPlan]:
        """The plans of ``stretch`` (stretches come in time order)."""
        segment = stretch.segment
        plans = self._beats(segment.start_s)
        for start, end in split_chunks(segment, self.cfg.chunk_s):
            inside = [s for s in stretch.samples if start <= s.t_s < end]
            boxes, regions = union_boxes(inside)
            picks = tuple(pick_keyframe_times(inside, start, end, self.cfg.keyframes_per_chunk, self.keyframes))
            peak = max((s.score for s in inside), default=0.0)
            by_time = {s.t_s: s.boxes for s in inside}
            pick_boxes = tuple(by_time.get(t, ()) for t, _ in picks)
            plan = ChunkPlan(0, segment.id, start, end, picks, boxes, regions, peak, False, pick_boxes)
            plans.append(self._number(plan))
        self.quiet_start = max(self.quiet_start, segment.end_s)
        return plans

    def finish(self) -> list[ChunkPlan]:
        """The heartbeats after the last stretch."""
        return self._beats(self.duration_s)

    def _beats(self, until_s: float) -> list[ChunkPlan]:
        if self.every_s <= 0:
            return []
        return [
            self._number(ChunkPlan(0, -1, t, min(self.duration_s, t + 1.0), ((t, 0.0),), heartbeat=True))
            for t in quiet_beats(self.quiet_start, until_s, self.every_s)
        ]

    def _number(self, plan: ChunkPlan) -> ChunkPlan:
        self.next_id += 1
        return dataclasses.replace(plan, id=self.next_id - 1)

    def state(self) -> list[float]:
        """The next id and where the current quiet began, as JSON (to resume a scan)."""
        return [self.next_id, self.quiet_start]

    def restore(self, state: list[float]) -> None:
        """Continue from :meth:`state`."""
        self.next_id, self.quiet_start = int(state[0]), state[1]


def plan_state(plan: ChunkPlan) -> dict[str, Any]:
    """A plan as JSON (kept in the work cache)."""
    return {
        "id": plan.id,
        "segment_id": plan.segment_id,
        "start_s": plan.start_s,
        "end_s": plan.end_s,
        "picks": [list(p) for p in plan.picks],
        "motion_boxes": [box_state(b) for b in plan.motion_boxes],
        "max_regions": plan.max_regions,
        "peak_score": plan.peak_score,
        "heartbeat": plan.heartbeat,
        "pick_boxes": [[box_state(b) for b in group] for group in plan.pick_boxes],
    }


def plan_from(state: dict[str, Any]) -> ChunkPlan:
    """The plan saved by :func:`plan_state`."""
    return ChunkPlan(
        id=state["id"],
        segment_id=state["segment_id"],
        start_s=state["start_s"],
        end_s=state["end_s"],
        picks=tuple((t, score) for t, score in state["picks"]),
        motion_boxes=tuple(box_from(b) for b in state["motion_boxes"]),
        max_regions=state["max_regions"],
        peak_score=state["peak_score"],
        heartbeat=state["heartbeat"],
        pick_boxes=tuple(tuple(box_from(b) for b in group) for group in state["pick_boxes"]),
    )


def load_chunk(path: Path, plan: ChunkPlan, keyframes: Sequence[float] | None = None) -> Chunk:
    """Decode the plan's keyframes at full resolution (RGB) and return the finished chunk.

    ``keyframes``: the stream's keyframe times, if known (to seek rather than decode far).
    """
    frames = sorted(grab_frames(path, [t for t, _ in plan.picks], keyframes), key=lambda item: item[0])
    shots: tuple[Keyframe, ...] = ()
    if frames:
        boxes = plan.pick_boxes or ((),) * len(plan.picks)
        shots = tuple(
            Keyframe(t, min(frames, key=lambda item: abs(item[0] - t))[1], score, b)
            for (t, score), b in zip(plan.picks, boxes, strict=True)
        )
    return Chunk(
        plan.id,
        plan.segment_id,
        plan.start_s,
        plan.end_s,
        shots,
        plan.motion_boxes,
        plan.max_regions,
        plan.peak_score,
        heartbeat=plan.heartbeat,
    )
