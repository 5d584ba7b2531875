"""From a profile's counts to a score: how far a frame's windows lie in the tail of their normal.

Per window, the calibration histograms give quantiles of motion energy (medians of speed and blob
size, for the reasons). Windows that saw little motion borrow from the whole picture: their
quantiles are shrunk toward the global ones in proportion to how little they saw.

A moving window's score is about ``-log10`` of the chance of seeing that much motion energy there
in normal footage: 0.3 at its median, 2 at its 99th percentile, then rising ``ALPHA`` per tenfold
beyond it. Motion where the window moved in less than 1 % of the normal frames with movement adds how much
rarer than 1 % that is (``-log10(p) - 2``): movement where nothing usually moves. A frame's score is the mean of
its ``TOP`` highest windows (neighbouring windows overlap, so this is a little spatial smoothing).
"""

from __future__ import annotations

import cv2
import numpy as np

from veille.anomaly.profile import CameraProfile, bin_value

LEVELS = np.array([0.5, 0.75, 0.9, 0.95, 0.99])
ALPHA = 3.0
TOP = 3
SHRINK_FRAMES = 50.0  # a window that moved in this many frames is trusted half, the picture the other half
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


def shrunk_quantiles(name: str, hist: np.ndarray, counts: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per-window quantiles (L, rows, cols), shrunk toward the whole picture's where a window saw little."""
    own = np.log10(bin_value(name, hist_positions(hist, levels)))
    whole = np.log10(bin_value(name, hist_positions(hist.sum((0, 1)), levels)))[:, None, None]
    trust = (counts / (counts + SHRINK_FRAMES))[None]
    return 10.0 ** (trust * own + (1 - trust) * whole)


class NormalModel:
    """Scores frames against a camera profile."""

    def __init__(self, profile: CameraProfile) -> None:
        self.profile = profile
        counts = profile.active
        self.log_q = np.log10(shrunk_quantiles("energy", profile.energy, counts, LEVELS))
        half = np.array([0.5])
        self.speed_median = shrunk_quantiles("speed", profile.speed, counts, half)[0]
        self.size_median = shrunk_quantiles("size", profile.size, counts, half)[0]
        frames = max(profile.meta.moving_frames or profile.meta.frames, 1)  # quiet hours do not make places rare
        p = ((counts + 0.5) / (frames + 1)).astype(np.float32)
        p = 0.5 * p + 0.5 * cv2.blur(p, (3, 3))
        self.rarity = np.maximum(0.0, -np.log10(p) + np.log10(RARE))

    def tail(self, energy: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """``-log10`` of the chance of at least ``energy`` in each window, given it moves (≥ 0).

        ``where``: flat window indices that ``energy`` (then 1-D) belongs to; all windows if None.
        """
        q = self.log_q if where is None else self.log_q.reshape(len(LEVELS), -1)[:, where]
        return _tail(np.log10(np.maximum(energy, 1e-9)), q)

    def window_scores(self, energy: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Each window's score (0 where nothing moves)."""
        return np.where(active, self.tail(energy) + self.rarity, 0.0)

    def frame_score(self, energy: np.ndarray, active: np.ndarray) -> tuple[float, int]:
        """The frame's score and the flat index of its most unusual window (-1 when nothing moves)."""
        where = np.flatnonzero(active)
        if not where.size:
            return 0.0, -1
        scores = self.tail(energy.ravel()[where], where) + self.rarity.ravel()[where]
        best = int(where[np.argmax(scores)])
        if scores.size > TOP:
            scores = scores[np.argpartition(scores, -TOP)[-TOP:]]
        return float(scores.sum() / TOP), best

    def sample_scores(self) -> np.ndarray:
        """Frame scores of the frames with movement in the profile's sample of calibration frames."""
        sample = self.profile.sample.astype(np.float64)
        return np.array([self.frame_score(frame, frame > 0)[0] for frame in sample if frame.max() > 0])


def _tail(le: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Piecewise-linear ``-log10`` tail chance of log-values ``le`` between quantiles ``q`` (L, ...)."""
    steps = -np.log10(1 - LEVELS)
    out = steps[0] * np.clip(1 - (q[0] - le), 0, 1)
    for i in range(len(LEVELS) - 1):
        inside = (le >= q[i]) & (le < q[i + 1])
        frac = (le - q[i]) / np.maximum(q[i + 1] - q[i], 1e-6)
        out = np.where(inside, steps[i] + frac * (steps[i + 1] - steps[i]), out)
    return np.where(le >= q[-1], steps[-1] + ALPHA * (le - q[-1]), out)


def normal_quantiles(model: NormalModel) -> dict[str, float]:
    """Quantiles of the scores of normal (calibration) frames with movement, for the profile's metadata.

    Quiet frames are left out: on a camera that is quiet 95 % of the time, the 99th percentile of all
    frames would be the 80th of the moving ones, and one moment in five would look unusual.
    """
    scores = model.sample_scores()
    if not scores.size:
        return {}
    return {key: round(float(np.quantile(scores, q)), 3) for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
