"""The geometry of a video's timeline, drawn as inline SVG by the video page's template.

The SVG's x axis is the video's time in seconds (its ``viewBox`` spans the whole video, so zooming
is a change of ``viewBox`` in the page's script); y runs 0 (top) to 100 (bottom): the stretches of
movement fill a band, the events stand on top coloured by threat, the anomaly curve runs across.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veille.i18n import clock

HEIGHT = 100.0
CURVE_TOP, CURVE_BOTTOM = 4.0, 96.0
#: Overlapping events are drawn in up to this many rows.
LANES = 4


@dataclass(slots=True)
class Timeline:
    """What the template draws; every number is already in SVG units."""

    duration: float
    segments: list[tuple[float, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    curve: str = ""
    threshold_y: float | None = None
    ticks: list[tuple[float, str]] = field(default_factory=list)


def ticks(duration: float, count: int = 6) -> list[tuple[float, str]]:
    """About ``count`` round times across ``duration`` seconds, with their labels."""
    if duration <= 0:
        return [(0.0, clock(0))]
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)
    step = next((s for s in steps if duration / s <= count), steps[-1])
    return [(float(t), clock(t)) for t in range(0, int(duration) + 1, step)]


def build(
    duration: float,
    events: list[dict[str, Any]],
    segments: list[tuple[float, float]],
    curve: list[tuple[float, float]],
    threshold: float | None,
) -> Timeline:
    """The timeline of a video of ``duration`` seconds."""
    length = max(duration, max((e["end_s"] for e in events), default=0.0), 1.0)
    line = Timeline(duration=length, segments=[(s, max(e - s, 0.0)) for s, e in segments], ticks=ticks(length))
    lanes: list[float] = []  # end of the last event in each lane, so overlapping events do not hide each other
    for event in events:
        lane = next((i for i, end in enumerate(lanes) if end <= event["start_s"]), len(lanes))
        lanes[lane:lane + 1] = [event["end_s"]]  # fmt: skip
        width = max(event["end_s"] - event["start_s"], length / 400)
        line.events.append({**event, "x": event["start_s"], "w": width, "lane": min(lane, LANES - 1)})
    if curve:
        top = max(max(score for _, score in curve), threshold or 0.0, 1e-9)

        def y(score: float) -> float:
            return round(CURVE_BOTTOM - (CURVE_BOTTOM - CURVE_TOP) * min(score / top, 1.0), 2)

        line.curve = " ".join(f"{round(t, 3)},{y(score)}" for t, score in curve)
        line.threshold_y = y(threshold) if threshold is not None and threshold >= 0 else None
    return line
