"""``report.html``: one self-contained page (inline CSS, images as files beside it, no remote assets).

Rendered with Jinja2 and autoescaping on: every string from a model, a file name or the user's
context is escaped.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from veille.i18n import clock, events_found, labels
from veille.io import write_text
from veille.report.ranking import anomaly_note, is_unusual, ranked_events, ranking_line
from veille.report.schema import Report, ReportAnomaly, ReportEvent

THREAT_COLORS = {0: "#2f9e62", 1: "#e0a100", 2: "#d93b3b"}
_TICKS = 5
_CURVE_POINTS = 1500  # at most this many points drawn (the highest of each stretch, so no peak is lost)


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("veille", "report/templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _pct(t_s: float, duration_s: float) -> float:
    if duration_s <= 0:
        return 0.0
    return round(100 * min(1.0, max(0.0, t_s / duration_s)), 3)


def _span(start_s: float, end_s: float, duration_s: float) -> dict[str, float]:
    left = _pct(start_s, duration_s)
    return {"left": left, "width": max(0.4, round(_pct(end_s, duration_s) - left, 3))}


def _url(relative: str) -> str:
    """A relative file path as a safe URL (each part percent-encoded; no scheme can sneak in)."""
    return "/".join(quote(part) for part in relative.split("/"))


def _curve_view(anomaly: ReportAnomaly | None, duration_s: float) -> dict[str, Any] | None:
    """The anomaly curve as SVG polyline points (x 0–1000 along the video, y 0–100 downwards)."""
    if anomaly is None or duration_s <= 0:
        return None
    points = anomaly.curve
    if len(points) > _CURVE_POINTS:
        size = -(-len(points) // _CURVE_POINTS)
        points = [max(points[i : i + size], key=lambda p: p[1]) for i in range(0, len(points), size)]
    top = max([anomaly.threshold * 1.5, 1.0, *(score for _, score in points)])

    def y(score: float) -> float:
        return round(100 - 96 * min(score, top) / top, 2)

    line = " ".join(f"{round(1000 * min(t, duration_s) / duration_s, 2)},{y(score)}" for t, score in points)
    return {"points": line, "threshold": y(anomaly.threshold), "camera": anomaly.camera}


def _event_view(event: ReportEvent, duration_s: float, lang: str, report: Report | None = None) -> dict[str, Any]:
    text = labels(lang)
    return {
        "anomaly": anomaly_note(report, event, lang) if report is not None else "",
        "unusual": report is not None and is_unusual(report, event),
        "anchor": f"event-{event.id}",
        "id": event.id,
        "range": f"{clock(event.start_s)} – {clock(event.end_s)}",
        "seconds": round(event.end_s - event.start_s),
        "title": event.title,
        "description": event.description,
        "threat": event.threat_level,
        "threat_label": text[f"threat_{event.threat_level}"],
        "color": THREAT_COLORS[event.threat_level],
        "confidence": f"{event.confidence:.0%}",
        "source": text[f"source_{event.source}"],
        "thumbs": [{"src": _url(k.image), "time": clock(k.t_s), "boxes": len(k.boxes)} for k in event.keyframes],
        "clip": _url(event.clip) if event.clip else None,
        **_span(event.start_s, event.end_s, duration_s),
    }


def _stats_rows(report: Report, lang: str) -> list[tuple[str, str]]:
    text, stats = labels(lang), report.stats
    return [
        (text["frames_total"], f"{stats.frames_total:,}"),
        (text["packets_scanned"], f"{stats.packets_scanned:,}"),
        (text["frames_decoded"], f"{stats.frames_decoded:,}"),
        (text["frames_to_vlm"], f"{stats.frames_to_vlm:,}"),
        (text["vlm_calls"], str(stats.vlm_calls)),
        (text["llm_calls"], str(stats.llm_calls)),
        (text["scan_s"], f"{stats.scan_s:.1f} s"),
        (text["analysis_s"], f"{stats.analysis_s:.1f} s"),
        (text["realtime_factor"], f"{stats.realtime_factor:g}×"),
        *([(text["download_s"], f"{stats.download_s:.1f} s")] if stats.download_s > 0 else []),
    ]


def context(report: Report, lang: str = "en") -> dict[str, Any]:
    """The values the template shows (times as clocks, spans as percentages)."""
    duration = report.video.duration_s
    video = report.video
    return {
        "t": labels(lang),
        "lang": lang,
        "name": Path(video.path).name,
        "video": video,
        "duration": clock(duration),
        "found": events_found(len(report.events), duration, lang),
        "summary": report.summary,
        "events": [_event_view(e, duration, lang, report) for e in ranked_events(report)],
        "ranking": ranking_line(report, lang),
        "curve": _curve_view(report.anomaly, duration),
        "segments": [_span(s.start_s, s.end_s, duration) for s in report.segments],
        "ticks": [{"left": 100 * i / (_TICKS - 1), "label": clock(duration * i / (_TICKS - 1))} for i in range(_TICKS)],
        "stats": _stats_rows(report, lang),
        "models": [(role, m.id if m else labels(lang)["none"]) for role, m in report.models.items()],
        "warnings": report.warnings,
        "complete": report.complete,
        "created_at": report.created_at,
        "version": report.veille_version,
        "colors": THREAT_COLORS,
    }


def render_html(report: Report, lang: str = "en") -> str:
    """The whole page as a string."""
    return _environment().get_template("report.html.j2").render(**context(report, lang))


def write_html(report: Report, folder: Path, lang: str = "en") -> Path:
    """Write ``report.html`` into ``folder``."""
    path = folder / "report.html"
    write_text(path, render_html(report, lang))
    return path
