"""How unusual each live event is for its camera: the calibrated profile (``veille calibrate``) scores
the frames the pixel pass decodes, five a second, as ``analyze --camera`` does on files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from veille.anomaly.features import frame_interval
from veille.anomaly.frames import GrayFrame
from veille.anomaly.profile import CameraProfile
from veille.anomaly.reasons import explain
from veille.anomaly.score import Scorer, check_fits
from veille.errors import CameraProfileError
from veille.types import VideoInfo
from veille.video.decode import small_gray

#: Decoded frames further apart than this start a new run of movement (the features start afresh).
GAP_S = 1.0


class LiveAnomaly:
    """Scores decoded frames against ``profile``; :meth:`verdict` gives an event's score and reason."""

    def __init__(self, profile: CameraProfile, fps: float) -> None:
        self.profile = profile
        self.size = tuple(profile.meta.analysis_size)
        self.interval_s = frame_interval(fps or 15.0)
        self.scorer = Scorer(profile, interval_s=self.interval_s)
        self._due = float("-inf")
        self._last: float | None = None

    @staticmethod
    def fits(profile: CameraProfile, name: str, width: int, height: int, fps: float, codec: str) -> str | None:
        """Why ``profile`` cannot score this stream (another picture size), or None when it can."""
        try:
            check_fits(profile, VideoInfo(Path(name), 0.0, fps, width, height, 0, codec))
        except CameraProfileError as exc:
            return str(exc)
        return None

    def feed(self, t: float, frame: Any) -> None:
        """One decoded frame at stream time ``t`` (frames closer than the profile's interval are skipped)."""
        fresh = self._last is None or t - self._last > GAP_S
        self._last = t
        if not fresh and t < self._due - 0.25 * self.interval_s:
            return
        self.scorer.feed(GrayFrame(t, small_gray(frame, self.size), fresh))  # type: ignore[arg-type]
        self._due = t + self.interval_s

    def verdict(self, start_t: float, end_t: float, lang: str = "en") -> tuple[float, str]:
        """The event's anomaly score (its most unusual moment; the profile's usual is up to its threshold)
        and why; the scores are then forgotten (memory stays flat over a long watch)."""
        found = explain(self.scorer.curve, start_t, end_t, lang)
        curve = self.scorer.curve
        keep = [i for i, t in enumerate(curve.times) if t > end_t]
        for name in ("times", "raw", "scores", "window", "speed_ratio", "size_ratio", "rarity", "longer",
                     "lasting_ratio", "quiet_hour"):  # fmt: skip
            values = getattr(curve, name)
            setattr(curve, name, [values[i] for i in keep])
        return found.score, found.reason
