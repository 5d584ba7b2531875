"""The hooks ``analyze --camera`` uses: score the scanned video, tell the judge, fill the report.

1. :func:`anomaly_curve` after the scan: the curve over the stretches with activity (quiet ones are
   normal), against the camera's profile, or against the video itself (``--camera self``).
2. :func:`judge_facts`: a line per chunk for the judge's prompt ("unusual for this camera: ...").
3. :func:`with_anomaly` on the finished report: the ``anomaly`` object and each event's score and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from veille.anomaly.calibrate import learn, new_profile
from veille.anomaly.profile import CameraProfile
from veille.anomaly.reasons import explain
from veille.anomaly.score import AnomalyCurve, check_fits, score_video
from veille.anomaly.store import SELF, CameraStore
from veille.errors import CameraProfileError
from veille.progress import NullProgress, Progress
from veille.report.schema import Report, ReportAnomaly
from veille.types import Segment, VideoInfo

SELF_MIN_S = 1800.0


def camera_for(info: VideoInfo, camera: str | None, store: CameraStore) -> CameraProfile | str | None:
    """Before the scan: ``camera``'s profile, checked against the video's size (``SELF`` when the
    video is to calibrate itself, after checking it is long enough; None without a camera).

    Raises:
        CameraProfileError: unknown camera, damaged or newer profile, another picture size, or a
            video too short for ``--camera self``.
    """
    if not camera:
        return None
    if camera == SELF:
        if info.duration_s < SELF_MIN_S:
            raise CameraProfileError(
                f"--camera self learns what is usual from the video itself and needs at least {SELF_MIN_S / 60:.0f} "
                f"min of it (this one is {info.duration_s / 60:.1f} min); calibrate the camera on other footage "
                "instead (veille calibrate VIDEO... --camera NAME)"
            )
        return SELF
    profile = store.load(camera)
    check_fits(profile, info)
    return profile


def self_profile(info: VideoInfo, segments: Sequence[Segment], progress: Progress | None = None) -> CameraProfile:
    """A profile learned from the video itself: its stretches with activity, and its quiet time as
    frames where nothing moves (known from the scan, not decoded again)."""
    progress = progress or NullProgress()
    spans = [(s.start_s, s.end_s) for s in segments]
    active_s = sum(max(0.0, min(b, info.duration_s) - a) for a, b in spans)
    profile = new_profile(SELF, info)
    progress.start("learn", info.duration_s, unit="s")
    learn(profile, [(info, spans)], progress=lambda t: progress.update("learn", t), quiet_s=info.duration_s - active_s)
    progress.finish("learn")
    return profile


def anomaly_curve(
    info: VideoInfo,
    segments: Sequence[Segment],
    camera: CameraProfile | str,
    progress: Progress | None = None,
) -> AnomalyCurve:
    """After the scan: the curve over the stretches with activity (quiet ones are normal) against
    ``camera`` (from :func:`camera_for`)."""
    progress = progress or NullProgress()
    profile = camera if isinstance(camera, CameraProfile) else self_profile(info, segments, progress)
    spans = [(s.start_s, s.end_s) for s in segments]
    progress.start("anomaly", info.duration_s, unit="s")
    curve = score_video(info, profile, spans, progress=lambda t: progress.update("anomaly", t))
    progress.finish("anomaly")
    return curve


def chunk_fact(curve: AnomalyCurve, start_s: float, end_s: float) -> str:
    """One line for the judge about a chunk (the prompts are English)."""
    verdict = explain(curve, start_s, end_s, "en")
    usual = f"score {verdict.score:.1f}; this camera's usual is up to {curve.threshold:.1f}"
    if verdict.unusual:
        return f"unusual for this camera: {verdict.reason} ({usual})"
    return f"usual for this camera ({usual})"


def judge_facts(curve: AnomalyCurve | None) -> Callable[[float, float], str] | None:
    """``facts(start_s, end_s)`` for the judge's prompt (None without a curve)."""
    return None if curve is None else partial(chunk_fact, curve)


def with_anomaly(report: Report, curve: AnomalyCurve | None, lang: str = "en") -> Report:
    """``report`` with the ``anomaly`` object and every event's score and reason (as is without a curve)."""
    if curve is None:
        return report
    events = []
    for event in report.events:
        verdict = explain(curve, event.start_s, event.end_s, lang)
        events.append(event.model_copy(update={"anomaly_score": verdict.score, "anomaly_reason": verdict.reason}))
    anomaly = ReportAnomaly(
        camera=curve.camera,
        threshold=round(max(0.0, curve.threshold), 3),
        curve=curve.points(),
        self_calibrated=curve.camera == SELF,
    )
    return report.model_copy(update={"events": events, "anomaly": anomaly})
