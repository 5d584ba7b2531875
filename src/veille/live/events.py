"""A live event's life: opened by movement, followed, closed after a quiet spell; what it keeps to show."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from veille.types import Box, Keyframe, MotionSample
from veille.video.decode import to_rgb

#: Movement in this many frames within ``ONSET_S`` opens an event (one noisy frame does not).
ONSET_FRAMES = 2
ONSET_S = 1.0


@dataclass(slots=True)
class LiveEvent:
    """An event as it happens. Times ``*_t`` are stream seconds; ``start_wall`` is POSIX time."""

    start_t: float
    start_wall: float
    last_active_t: float
    end_t: float | None = None
    peak: float = 0.0
    regions: int = 0
    boxes: list[Box] = field(default_factory=list)
    frames: list[tuple[float, np.ndarray, tuple[Box, ...], float]] = field(default_factory=list)
    spacing_s: float = 1.0
    number: int = 0
    clip: Any = None
    reason: str = ""
    chosen: tuple[Keyframe, ...] = ()  # the keyframes the report shows, with their images (for the models)
    chunk_start_t: float = 0.0  # where the part not yet handed to the models starts
    chunks_sent: int = 0

    def keep(self, sample: MotionSample, frame: Any, keep_n: int) -> None:
        """Follow the movement; keep a frame now and then (thinned to stay spread over the event)."""
        self.last_active_t = max(self.last_active_t, sample.t_s)
        self.regions = max(self.regions, len(sample.boxes))
        if len(self.boxes) < 64:
            self.boxes.extend(sample.boxes)
        peak = sample.score > self.peak * 1.5
        self.peak = max(self.peak, sample.score)
        last = self.frames[-1][0] if self.frames else -np.inf
        if sample.t_s - last >= self.spacing_s or (peak and sample.t_s - last >= 0.3):
            self.frames.append((sample.t_s, to_rgb(frame), sample.boxes, sample.score))
            if len(self.frames) >= 2 * keep_n:
                self.frames = self.frames[::2]
                self.spacing_s *= 2

    def duration_s(self) -> float:
        """How long the movement lasted (so far)."""
        return max(0.0, (self.end_t if self.end_t is not None else self.last_active_t) - self.start_t)


class EventTracker:
    """Movement in, ``started`` / ``ended`` out.

    Args:
        threshold: motion score (share of pixels) that counts as movement.
        quiet_s: an event ends once no movement was seen for this long.
        max_event_s: an event running longer is closed (and the next movement opens a new one).
        keep_n: how many frames an event keeps to show.
    """

    def __init__(self, threshold: float, quiet_s: float, max_event_s: float, keep_n: int = 4) -> None:
        self.threshold, self.quiet_s, self.max_event_s, self.keep_n = threshold, quiet_s, max_event_s, keep_n
        self.open: LiveEvent | None = None
        self._recent: list[float] = []

    def sample(self, sample: MotionSample, frame: Any, wall: float) -> LiveEvent | None:
        """Feed one frame's motion; returns the event it opens, if any."""
        if sample.score < self.threshold or sample.lighting_change:
            return None
        if self.open is not None:
            self.open.keep(sample, frame, self.keep_n)
            return None
        self._recent = [t for t in self._recent if sample.t_s - t <= ONSET_S] + [sample.t_s]
        if len(self._recent) < ONSET_FRAMES:
            return None
        onset = self._recent[0]
        self._recent = []
        self.open = LiveEvent(
            start_t=onset, start_wall=wall - (sample.t_s - onset), last_active_t=sample.t_s, chunk_start_t=onset
        )
        self.open.keep(sample, frame, self.keep_n)
        return self.open

    def tick(self, t: float) -> Iterator[LiveEvent]:
        """The stream reached ``t``: yields the event closed by a quiet spell or by its length."""
        event = self.open
        if event is None:
            return
        if t - event.last_active_t > self.quiet_s:
            yield self.close(event.last_active_t, "quiet")
        elif t - event.start_t > self.max_event_s:
            yield self.close(t, "longest event length reached")

    def close(self, end_t: float | None = None, reason: str = "") -> LiveEvent:
        """Close the open event now (at ``end_t``, default its last movement)."""
        event = self.open
        assert event is not None
        event.end_t = max(event.start_t, end_t if end_t is not None else event.last_active_t)
        event.reason = reason
        self.open = None
        return event
