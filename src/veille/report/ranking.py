"""The order events are shown in, and how their anomaly is told (``analyze --camera``)."""

from __future__ import annotations

from veille.i18n import labels
from veille.report.schema import Report, ReportEvent


def ranked_events(report: Report) -> list[ReportEvent]:
    """Most unusual for the camera first (ties: earlier first) when the report has an anomaly curve;
    otherwise in time order."""
    if report.anomaly is None:
        return list(report.events)
    return sorted(report.events, key=lambda e: (-(e.anomaly_score or 0.0), e.start_s, e.id))


def is_unusual(report: Report, event: ReportEvent) -> bool:
    """Whether ``event`` scores above the camera's normal."""
    return report.anomaly is not None and (event.anomaly_score or 0.0) > report.anomaly.threshold


def anomaly_note(report: Report, event: ReportEvent, lang: str = "en") -> str:
    """``reason (score 2.8)`` for an event of a report with an anomaly curve, else an empty string."""
    if report.anomaly is None or event.anomaly_score is None:
        return ""
    return f"{event.anomaly_reason or ''} ({labels(lang)['anomaly_score']} {event.anomaly_score:.1f})".strip()


def ranking_line(report: Report, lang: str = "en") -> str:
    """What the order of the events means, or an empty string when they are in time order."""
    if report.anomaly is None:
        return ""
    anomaly = report.anomaly
    key = "ranked_self" if anomaly.self_calibrated else "ranked_camera"
    return labels(lang)[key].format(camera=anomaly.camera, threshold=f"{anomaly.threshold:.1f}")
