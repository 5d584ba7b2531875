"""Score a video against a camera profile: one point per analysed frame.

The curve is smoothed causally (the mean over the last ``SMOOTH_S`` seconds of analysed frames), as
a live system would have to: nothing is normalised by what comes later in the video, so scores
of different videos of the same camera compare.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from veille.anomaly.calibrate import size_mismatch
from veille.anomaly.clock import StartTime, start_time
from veille.anomaly.features import MotionFeatures, frame_interval, own_threads
from veille.anomaly.frames import GrayFrame, gray_frames, merge_spans
from veille.anomaly.model import NormalModel
from veille.anomaly.profile import CameraProfile
from veille.anomaly.timing import Runs, hour_of
from veille.types import VideoInfo

SMOOTH_S = 0.8


@dataclass(slots=True)
class AnomalyCurve:
    """Per analysed frame: time, raw and smoothed score, and what the most unusual window saw."""

    camera: str
    times: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    window: list[int] = field(default_factory=list)  # flat index of the most unusual window, -1 when quiet
    speed_ratio: list[float] = field(default_factory=list)  # its speed over its usual (median) speed
    size_ratio: list[float] = field(default_factory=list)  # its largest blob over its usual size (unusual frames)
    rarity: list[float] = field(default_factory=list)  # how rarely it moves in normal footage (0: often)
    longer: list[float] = field(default_factory=list)  # what its run of movement, so long, adds (0: usual length)
    lasting_ratio: list[float] = field(default_factory=list)  # how long that run has lasted over its usual
    quiet_hour: list[float] = field(default_factory=list)  # what moving at this hour adds (0: a usual hour)
    clock: str = ""  # what told the video's time of day when it was used ('file name', ...), '' otherwise
    grid: tuple[int, int] = (0, 0)
    threshold: float = 0.0  # the 99th percentile of normal frames' scores for this camera
    frames: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the whole process's
    flow_cpu_s: float = 0.0  # the scoring thread's (optical flow, statistics)
    decode_cpu_s: float = 0.0  # the decoding thread's

    def points(self) -> list[tuple[float, float]]:
        """``[(time_s, score)]``, times increasing."""
        return list(zip(self.times, self.scores, strict=True))

    def value_at(self, t_s: float) -> float:
        """The score at ``t_s``: the last point at or before it (0 before the first)."""
        i = int(np.searchsorted(np.asarray(self.times), t_s + 1e-6)) - 1
        return self.scores[i] if i >= 0 else 0.0


class Scorer:
    """Feeds frames through the features and the model, building an :class:`AnomalyCurve`.

    ``start``: when the video began, for the hours of the day (used only if the profile learned them).
    """

    def __init__(self, profile: CameraProfile, start: StartTime | None = None, interval_s: float = 0.2) -> None:
        self.model = NormalModel(profile)
        self.features = MotionFeatures(profile.meta.analysis_size, sizes=False)
        self.runs = Runs(profile.grid, interval_s)
        threshold = profile.meta.normal_scores.get("p99", 0.0)
        self.curve = AnomalyCurve(profile.meta.name, grid=profile.grid, threshold=threshold)
        timed = start is not None and self.model.quiet is not None
        self._day_s = start.seconds_of_day() if timed and start is not None else None
        self.curve.clock = start.source if timed and start is not None else ""
        self._recent: deque[tuple[float, float]] = deque()

    def feed(self, item: GrayFrame) -> None:
        """Score one analysis frame."""
        if item.fresh:
            self.features.reset()
            self.runs.close()
            self._recent.clear()
        obs = self.features.update(item.image, item.t_s)
        if obs is None:
            self._point(item.t_s, 0.0, -1)
            return
        m = self.model
        lasting = self.runs.update(obs.active, item.t_s)[0]
        longer = m.longer(lasting)
        quiet = m.quiet_at(None if self._day_s is None else hour_of(self._day_s, item.t_s))
        raw, top = m.frame_score(obs.energy, obs.active, longer + quiet)
        if top < 0:
            self._point(item.t_s, raw, top)
            return
        r, k = divmod(top, self.curve.grid[1])
        usual_run = m.duration_median[r, k] if m.duration_median is not None else 0.0
        self._point(
            item.t_s, raw, top,
            speed=float(obs.speed[r, k] / max(m.speed_median[r, k], 1e-9)),
            size=obs.size_at(r, k) / max(m.size_median[r, k], 1e-12) if raw > self.curve.threshold else 0.0,
            rare=float(m.rarity[r, k]),
            longer=float(longer[r, k]),
            lasting=float(lasting[r, k] / usual_run) if usual_run > 0 else 0.0,
            quiet=float(quiet[r, k]) if isinstance(quiet, np.ndarray) else 0.0,
        )  # fmt: skip

    def _point(self, t_s: float, raw: float, top: int, **why: float) -> None:
        c, recent = self.curve, self._recent
        recent.append((t_s, raw))
        while recent[0][0] <= t_s - SMOOTH_S:
            recent.popleft()
        c.times.append(round(t_s, 3))
        c.raw.append(round(raw, 3))
        c.scores.append(round(sum(s for _, s in recent) / len(recent), 3))
        c.window.append(top)
        c.speed_ratio.append(round(why.get("speed", 0.0), 2))
        c.size_ratio.append(round(why.get("size", 0.0), 2))
        c.rarity.append(round(why.get("rare", 0.0), 2))
        c.longer.append(round(why.get("longer", 0.0), 2))
        c.lasting_ratio.append(round(why.get("lasting", 0.0), 2))
        c.quiet_hour.append(round(why.get("quiet", 0.0), 2))
        c.frames += 1

    def quiet_from(self, t_s: float) -> None:
        """Nothing moves from ``t_s`` on (a stretch the scan skipped): a 0 point there."""
        if self.curve.times and t_s > self.curve.times[-1]:
            self._recent.clear()
            self._point(t_s, 0.0, -1)
            self.curve.frames -= 1
        self._recent.clear()
        self.runs.close()


def check_fits(profile: CameraProfile, info: VideoInfo) -> None:
    """Raise the one-line error naming both sizes when ``info`` is not the camera's size."""
    if (info.width, info.height) != (profile.meta.width, profile.meta.height):
        raise size_mismatch(profile.meta.name, (profile.meta.width, profile.meta.height), info, "the video")


def score_frames(scorer: Scorer, frames: Iterable[GrayFrame]) -> AnomalyCurve:
    """Feed ``frames`` to ``scorer``; return its curve."""
    for item in frames:
        scorer.feed(item)
    return scorer.curve


def score_video(
    info: VideoInfo,
    profile: CameraProfile,
    spans: Sequence[tuple[float, float]] | None = None,
    *,
    progress: Callable[[float], None] | None = None,
) -> AnomalyCurve:
    """The anomaly curve of ``info`` (only within ``spans`` when given; between them a 0 point)."""
    check_fits(profile, info)
    started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    interval = frame_interval(info.fps)
    scorer = Scorer(profile, start_time(info.path, info.duration_s), interval)
    size = profile.meta.analysis_size
    parts: list[list[tuple[float, float]] | None] = (
        [None] if spans is None else [[span] for span in merge_spans(spans, 2.0)]
    )
    decode = [0.0]
    with own_threads():
        for part in parts:
            for i, item in enumerate(gray_frames(info, size, interval, part, decode)):
                scorer.feed(item)
                if progress is not None and i % 50 == 0:
                    progress(item.t_s)
            if part is not None:
                scorer.quiet_from(part[0][1])
    curve = scorer.curve
    curve.wall_s, curve.cpu_s = time.perf_counter() - started, time.process_time() - cpu
    curve.flow_cpu_s, curve.decode_cpu_s = time.thread_time() - own, decode[0]
    return curve
