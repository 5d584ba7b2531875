"""How long movement lasts in each window, and how often each window moves at each hour of the day.

**Runs.** A window's run of movement starts when it (or a window next to it: a person shifting
on the spot moves between neighbouring windows) moves, and goes on through pauses shorter than
``GAP_S``. Calibration counts how long the runs of each window last (a histogram per window, see
:mod:`veille.anomaly.profile`); scoring knows, at every frame, how long each moving window's run has
lasted so far, so a loiterer where people usually pass in two seconds grows more unusual the longer
they stay.

**Hours.** When the footage's wall-clock times are known (see :mod:`veille.anomaly.clock`),
calibration counts per hour of the day the analysed frames and, per window, those in which it
moved. Once the footage covers at least ``MIN_BANDS`` hours (``BAND_MIN_S`` of footage each), a
window moving at an hour when it moves at least ``QUIET_RATIO`` times less often than over the whole
day is "movement at an hour when this place is usually quiet". Otherwise (times unknown, or all
the footage from one stretch of the day) the all-day statistics alone are used.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

GAP_S = 1.0  # a window still for less than this keeps its run going
HOURS = 24
BAND_MIN_S = 30.0  # footage with a known time an hour needs to count as seen
MIN_BANDS = 3  # hours seen for the time of day to be used
BAND_PRIOR = 10.0  # analysed frames of all-day behaviour each hour is shrunk with
QUIET_RATIO = 10.0  # moving this many times less often than over the day: "usually quiet" at this hour
QUIET_MAX = 3.0
_NEAR = np.ones((3, 3), np.uint8)


def hour_of(seconds_of_day: float, t_s: float) -> int:
    """The hour of the day (0-23) at ``t_s`` seconds into a video that started ``seconds_of_day`` after midnight."""
    return int((seconds_of_day + t_s) % 86400.0 // 3600.0)


def frames_per_hour(seconds_of_day: float, spans: Sequence[tuple[float, float]], interval_s: float) -> np.ndarray:
    """How many analysed frames (one every ``interval_s``) the ``spans`` of a video hold in each hour."""
    out = np.zeros(HOURS)
    for start, end in spans:
        t = start
        while t < end:
            edge = min(end, t + 3600.0 - (seconds_of_day + t) % 3600.0)
            out[hour_of(seconds_of_day, t)] += (edge - t) / interval_s
            t = edge
    return out


class Runs:
    """Runs of movement per window (see the module's doc), for a grid of (rows, columns) windows
    analysed one frame every ``interval_s``."""

    def __init__(self, grid: tuple[int, int], interval_s: float) -> None:
        self.interval = interval_s
        self.start = np.full(grid, np.nan)
        self.last = np.full(grid, -np.inf)

    def update(self, active: np.ndarray, t_s: float, *, ended: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Feed one frame's moving windows; return how long the run of each moving window has lasted
        (seconds, 0 where it does not move) and, when ``ended`` is asked for, the durations of the runs
        that ended (NaN elsewhere; None otherwise)."""
        near = cv2.dilate(active.view(np.uint8), _NEAR).view(bool)
        stale = t_s - self.last > GAP_S
        over = None
        if ended:
            gone = stale & ~near & ~np.isnan(self.start)
            over = np.where(gone, self.last - self.start + self.interval, np.nan)
            self.start[gone] = np.nan
        self.start = np.where(near & stale, t_s, self.start)
        self.last = np.where(near, t_s, self.last)
        return np.where(active, t_s - self.start + self.interval, 0.0), over
    def close(self) -> np.ndarray:
        """End every run (the footage stops or jumps); their durations (NaN where none ran)."""
        ended = self.last - self.start + self.interval
        self.start[:] = np.nan
        self.last[:] = -np.inf
        return ended


def hours_seen(hour_frames: np.ndarray, rate: float) -> np.ndarray:
    """The hours of the day with at least ``BAND_MIN_S`` of footage (``rate`` analysed frames a second)."""
    return np.flatnonzero(hour_frames >= BAND_MIN_S * rate)


def quiet_hours(hour_frames: np.ndarray, hour_active: np.ndarray, rate: float) -> np.ndarray | None:
    """Per hour and window (24, rows, cols): how much more unusual movement there is at that hour
    (``log10`` of how many times less often the window moves then than over the day, beyond
    ``QUIET_RATIO``; 0 where it is not quieter than that). None unless ``MIN_BANDS`` hours were seen.

    Each hour is counted with half of the hours either side, then shrunk toward the all-day rate by
    ``BAND_PRIOR`` frames, so an hour seen briefly (or not at all) says little (or nothing).
    """
    if len(hours_seen(hour_frames, rate)) < MIN_BANDS:
        return None
    frames = hour_frames + 0.5 * (np.roll(hour_frames, 1) + np.roll(hour_frames, -1))
    active = hour_active + 0.5 * (np.roll(hour_active, 1, axis=0) + np.roll(hour_active, -1, axis=0))
    day = (hour_active.sum(0) + 0.5) / (hour_frames.sum() + 1.0)
    hour = (active + BAND_PRIOR * day) / (frames[:, None, None] + BAND_PRIOR)
    return np.clip(np.log10(day / hour) - np.log10(QUIET_RATIO), 0.0, QUIET_MAX)
