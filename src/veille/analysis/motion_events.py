"""Events from motion facts alone: useful with no model at all."""

from __future__ import annotations

from collections.abc import Sequence

from veille.types import Box, Chunk, Event, Keyframe


def where_in_frame(boxes: Sequence[Box], width: int, height: int) -> str:
    """Plain words for where ``boxes`` lie: "the lower left of the frame", "across the frame"…"""
    if not boxes or width <= 0 or height <= 0:
        return "the frame"
    x1 = min(b.xyxy[0] for b in boxes) / width
    y1 = min(b.xyxy[1] for b in boxes) / height
    x2 = max(b.xyxy[2] for b in boxes) / width
    y2 = max(b.xyxy[3] for b in boxes) / height
    if x2 - x1 > 0.7 and y2 - y1 > 0.7:
        return "most of the frame"
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    row = "upper" if cy < 1 / 3 else "lower" if cy > 2 / 3 else ""
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    if x2 - x1 > 0.7:
        col = ""
        return f"the {row} part of the frame, across its width" if row else "across the frame"
    if not row and not col:
        return "the centre of the frame"
    return f"the {' '.join(p for p in (row, col) if p)} of the frame"


def describe_motion(boxes: Sequence[Box], regions: int, duration_s: float, width: int, height: int) -> str:
    """A one-sentence description of movement, e.g. "Movement in the lower left of the frame
    for 12 s, up to 3 moving regions."."""
    seconds = max(1, round(duration_s))
    text = f"Movement in {where_in_frame(boxes, width, height)} for {seconds} s"
    if regions > 1:
        text += f", up to {regions} moving regions"
    return text + "."


def motion_title(boxes: Sequence[Box], width: int, height: int) -> str:
    """A short title for a motion-only event."""
    return f"Movement in {where_in_frame(boxes, width, height)}"[:60]


def motion_events(chunks: Sequence[Chunk], width: int, height: int, *, keyframes: int = 4) -> list[Event]:
    """One event per segment, built from its chunks' motion facts (heartbeat chunks are skipped)."""
    by_segment: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        if not chunk.heartbeat:
            by_segment.setdefault(chunk.segment_id, []).append(chunk)
    events = []
    for event_id, group in enumerate(by_segment.values()):
        events.append(motion_event(event_id, group, width, height, keyframes=keyframes))
    return events


def motion_event(event_id: int, group: Sequence[Chunk], width: int, height: int, *, keyframes: int = 4) -> Event:
    """An event from a run of chunks, described by motion alone."""
    boxes = [b for c in group for b in c.motion_boxes]
    regions = max(c.max_regions for c in group)
    start, end = group[0].start_s, group[-1].end_s
    best = _spread(sorted((k for c in group for k in c.keyframes), key=lambda k: k.t_s), keyframes)
    peak = max(c.peak_score for c in group)
    return Event(
        id=event_id,
        start_s=start,
        end_s=end,
        title=motion_title(boxes, width, height),
        description=describe_motion(boxes, regions, end - start, width, height),
        threat_level=0,
        confidence=round(min(1.0, 0.5 + peak * 5), 2),
        source="motion",
        keyframes=tuple(best),
        chunk_ids=tuple(c.id for c in group),
    )


def _spread(frames: list[Keyframe], k: int) -> list[Keyframe]:
    if len(frames) <= k:
        return frames
    step = len(frames) / k
    return [max(frames[int(i * step) : int((i + 1) * step)], key=lambda f: f.score) for i in range(k)]
