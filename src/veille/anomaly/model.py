"""From a profile's counts to a score: how far a frame's windows lie in the tail of their normal.

Per window, the calibration histograms give quantiles of motion energy (medians of speed and blob
size, for the reasons). Windows that saw little motion borrow from the whole picture: their
quantiles are shrunk toward the global ones in proportion to how little they saw.

A moving window's score is about ``-log10`` of the chance of seeing that much motion energy there
in normal footage: 0.3 at its median, 2 at its 99th percentile, then rising ``ALPHA`` per tenfold
beyond it. Motion where the window moved in less than 1 % of the normal frames with movement adds how much
rarer than 1 % that is (``-log10(p) - 2``): movement where nothing usually moves. Two more terms, 0
for what is usual (see :mod:`veille.anomaly.timing`): a run of movement that has lasted longer than
the window's 99th percentile of run durations adds ``ALPHA`` per tenfold beyond it (movement lasting
longer than usual here), and movement at an hour when the window usually moves at least ten times less
often than over the day adds how much rarer than that it is then. A frame's score is the mean of its
``TOP`` highest windows (neighbouring windows overlap, so this is a little spatial smoothing).
"""

from __future__ import annotations

import cv2
import numpy as np

from veille.anomaly.features import TARGET_RATE
from veille.anomaly.profile import CameraProfile, bin_value
from veille.anomaly.timing import quiet_hours

LEVELS = np.array([0.5, 0.75, 0.9, 0.95, 0.99])
ALPHA = 3.0
TOP = 3
SHRINK_FRAMES = 50.0  # a window that moved in this many frames is trusted half, the picture the other half
SHRINK_RUNS = 3.0  # the same for runs of movement, fewer and longer
RARE = 0.01  # moving in fewer normal frames than this share is itself unusual


def hist_positions(hist: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Fractional bin positions of ``levels`` quantiles of each histogram (last axis): (L, ...)."""
    total = hist.sum(-1, keepdims=True)
    cdf = np.cumsum(hist, -1) / np.maximum(total, 1e-12)
    bins = hist.shape[-1]
    out = []
    for level in levels:
        idx = np.clip((cdf < level).sum(-1), 0, bins - 1)
        cur = np.take_along_axis(cdf, idx[..., None], -1)[..., 0]
        prev = np.where(idx > 0, np.take_along_axis(cdf, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0.0)
        frac = np.clip((level - prev) / np.maximum(cur - prev, 1e-12), 0.0, 1.0)
        out.append(idx + frac)
    return np.stack(out)


def shrunk_quantiles(
    name: str, hist: np.ndarray, counts: np.ndarray, levels: np.ndarray, shrink: float = SHRINK_FRAMES
) -> np.ndarray:
    """Per-window quantiles (L, rows, cols), shrunk toward the whole picture's where a window saw little."""
    own = np.log10(bin_value(name, hist_positions(hist, levels)))
    whole = np.log10(bin_value(name, hist_positions(hist.sum((0, 1)), levels)))[:, None, None]
    trust = (counts / (counts + shrink))[None]
    return 10.0 ** (trust * own + (1 - trust) * whole)


def duration_quantiles(profile: CameraProfile) -> np.ndarray | None:
    """Per-window ``log10`` quantiles (L, rows, cols) of how long runs of movement last, shrunk toward
    the picture's where a window saw few runs; None when no run was counted."""
    runs = profile.duration.sum(-1)
    if not runs.any():
        return None
    return spaced(np.log10(shrunk_quantiles("duration", profile.duration, runs, LEVELS, SHRINK_RUNS)))


class NormalModel:
    """Scores frames against a camera profile."""

    def __init__(self, profile: CameraProfile) -> None:
        self.profile = profile
        counts = profile.active
        self.log_q = spaced(np.log10(shrunk_quantiles("energy", profile.energy, counts, LEVELS)))
        self._bends = _bends(self.log_q)
        half = np.array([0.5])
        self.speed_median = shrunk_quantiles("speed", profile.speed, counts, half)[0]
        self.size_median = shrunk_quantiles("size", profile.size, counts, half)[0]
        frames = max(profile.meta.moving_frames or profile.meta.frames, 1)  # quiet hours do not make places rare
        p = ((counts + 0.5) / (frames + 1)).astype(np.float32)
        p = 0.5 * p + 0.5 * cv2.blur(p, (3, 3))
        self.rarity = np.maximum(0.0, -np.log10(p) + np.log10(RARE))
        self.duration_q = duration_quantiles(profile)
        self.duration_median = 10.0 ** self.duration_q[0] if self.duration_q is not None else None
        self.quiet = quiet_hours(profile.hour_frames, profile.hour_active, TARGET_RATE)

    def longer(self, lasting: np.ndarray) -> np.ndarray:
        """Per window, how much more unusual its movement is for having lasted ``lasting`` seconds so far
        (0 up to its 99th percentile of run durations, then ``ALPHA`` per tenfold; 0 without durations)."""
        if self.duration_q is None:
            return np.zeros_like(lasting)
        return ALPHA * np.maximum(np.log10(np.maximum(lasting, 1e-3)) - self.duration_q[-1], 0.0)  # the tail beyond p99

    def quiet_at(self, hour: int | None) -> np.ndarray | float:
        """Per window, how much more unusual movement is at ``hour`` of the day (0 when unknown or not learned)."""
        return 0.0 if self.quiet is None or hour is None else self.quiet[hour]

    def tail(self, energy: np.ndarray) -> np.ndarray:
        """``-log10`` of the chance of at least ``energy`` (rows, cols) in each window, given it moves (≥ 0)."""
        return _tail(np.log10(np.maximum(energy, 1e-9)), self.log_q, self._bends)

    def window_scores(self, energy: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Each window's score (0 where nothing moves)."""
        return np.where(active, self.tail(energy) + self.rarity, 0.0)

    def frame_score(
        self, energy: np.ndarray, active: np.ndarray, extra: np.ndarray | float = 0.0
    ) -> tuple[float, int]:
        """The frame's score and the flat index of its most unusual window (-1 when nothing moves);
        ``extra``: more per window (:meth:`longer`, :meth:`quiet_at`).

        All windows are scored at once (on a grid of a few hundred windows that costs what scoring
        the moving ones alone would), the still ones set below any score.
        """
        if not active.any():
            return 0.0, -1
        scores = np.where(active, self.tail(energy) + self.rarity + extra, -1.0).ravel()
        best = int(np.argmax(scores))
        top = np.partition(scores, -TOP)[-TOP:] if scores.size > TOP else scores
        return float(np.maximum(top, 0.0).sum() / TOP), best

    def sample_scores(self) -> np.ndarray:
        """Frame scores of the frames with movement in the profile's sample of calibration frames."""
        sample = self.profile.sample.astype(np.float64)
        return np.array([self.frame_score(frame, frame > 0)[0] for frame in sample if frame.max() > 0])


_STEPS = -np.log10(1 - LEVELS)


def spaced(log_q: np.ndarray, gap: float = 1e-6) -> np.ndarray:
    """Quantiles (L, ...) moved up where needed so that each lies at least ``gap`` above the one before
    (tied quantiles would make the tail jump; a millionth of a decade changes nothing else)."""
    out = np.array(log_q, dtype=np.float64)
    for i in range(1, len(out)):
        out[i] = np.maximum(out[i], out[i - 1] + gap)
    return out


def _bends(log_q: np.ndarray) -> np.ndarray:
    """How much the tail's slope changes at each quantile (L, ...) (see :func:`spaced`), for :func:`_tail`."""
    gaps = np.maximum(np.diff(log_q, axis=0), 1e-9)
    slopes = np.diff(_STEPS).reshape(-1, *[1] * (log_q.ndim - 1)) / gaps
    after = np.concatenate([slopes, np.full((1, *log_q.shape[1:]), ALPHA)])  # the slope beyond each quantile
    return np.diff(after, axis=0, prepend=0.0)


def _tail(le: np.ndarray, q: np.ndarray, bends: np.ndarray) -> np.ndarray:
    """Piecewise-linear ``-log10`` tail chance of log-values ``le`` between quantiles ``q`` (L, ...).

    ``_STEPS[0]`` (the median's) at ``q[0]``, falling to 0 a decade below it; from there linear
    through ``_STEPS[i]`` at each quantile ``q[i]``, and ``ALPHA`` per decade beyond the last: a sum
    of hinges (``bends`` from :func:`_bends`), a few array operations for the whole grid.
    """
    below = _STEPS[0] * np.clip(1 - (q[0] - le), 0, 1)
    return below + (bends * np.maximum(le - q, 0)).sum(0)


def normal_quantiles(model: NormalModel) -> dict[str, float]:
    """Quantiles of the scores of normal (calibration) frames with movement, for the profile's metadata.

    Quiet frames are left out: on a camera that is quiet 95 % of the time, the 99th percentile of all
    frames would be the 80th of the moving ones, and one moment in five would look unusual.
    """
    scores = model.sample_scores()
    if not scores.size:
        return {}
    return {key: round(float(np.quantile(scores, q)), 3) for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
