"""From per-chunk verdicts to report events: smoothing over neighbours, merging one story into one event."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from veille.analysis.motion_events import motion_event
from veille.types import Chunk, Event, Judgement, Keyframe

#: A verdict this sure is never smoothed down (a single clear critical chunk must stay critical).
KEEP_CONFIDENCE = 0.8


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """Everything known about one chunk after the models ran."""

    chunk: Chunk
    description: str | None
    judgement: Judgement | None  # None: motion-based level, confidence and title for this chunk
    keyframes: tuple[Keyframe, ...] = ()  # keyframes with grounded boxes (defaults to the chunk's)


def smooth_levels(levels: Sequence[int], confidences: Sequence[float], groups: Sequence[int]) -> list[int]:
    """Threat levels smoothed over neighbouring chunks of the same segment (weights ¼ ½ ¼).

    An isolated, unsure suspicious chunk among normal ones drops to normal (restraint against false
    alarms); a run of suspicious chunks lifts an unsure normal one between them; a verdict with
    confidence ≥ 0.8 is never lowered.
    """
    out = []
    for i, level in enumerate(levels):
        prev = levels[i - 1] if i > 0 and groups[i - 1] == groups[i] else level
        nxt = levels[i + 1] if i + 1 < len(levels) and groups[i + 1] == groups[i] else level
        around = (prev + nxt) / 2
        value = 0.5 * level + 0.5 * around
        smoothed = math.floor(value + 0.5) if around >= level else math.ceil(value - 0.5)  # ties go the neighbours' way
        if confidences[i] >= KEEP_CONFIDENCE:
            smoothed = max(smoothed, level)
        out.append(min(2, max(0, smoothed)))
    return out


def _same_story(a: ChunkResult, b: ChunkResult, level_a: int, level_b: int) -> bool:
    if a.chunk.segment_id != b.chunk.segment_id or level_a != level_b:
        return False
    return (a.judgement is None) == (b.judgement is None)


def build_events(results: Sequence[ChunkResult], width: int, height: int, *, keyframes: int = 4) -> list[Event]:
    """Events from chunk results: smoothed levels, adjacent chunks of one story merged (heartbeats skipped)."""
    results = [r for r in results if not r.chunk.heartbeat]
    judged = [r.judgement for r in results]
    levels = smooth_levels(
        [j.threat_level if j else 0 for j in judged],
        [j.confidence if j else 0.0 for j in judged],
        [r.chunk.segment_id for r in results],
    )
    groups: list[list[int]] = []
    for i in range(len(results)):
        if groups and _same_story(results[groups[-1][-1]], results[i], levels[groups[-1][-1]], levels[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return [_event(n, [results[i] for i in g], levels[g[0]], width, height, keyframes) for n, g in enumerate(groups)]


def _event(event_id: int, group: list[ChunkResult], level: int, width: int, height: int, keyframes: int) -> Event:
    chunks = [replace(r.chunk, keyframes=r.keyframes or r.chunk.keyframes) for r in group]
    base = motion_event(event_id, chunks, width, height, keyframes=keyframes)
    judged = [(r, r.judgement) for r in group if r.judgement is not None]
    texts = list(dict.fromkeys(r.description for r in group if r.description))
    if not judged:  # no verdict: the motion facts set level and confidence; a description still comes from the VLM
        return replace(base, description=" ".join(texts), source="vlm") if texts else base
    best, verdict = max(judged, key=lambda rj: (rj[1].threat_level, rj[1].confidence))
    confidence = sum(j.confidence for _, j in judged) / len(judged)
    return replace(
        base,
        title=verdict.title or (best.description or base.title)[:60],
        description=" ".join(texts) or base.description,
        threat_level=level,
        confidence=round(confidence, 3),
        source="vlm",
    )
