"""Text writers: ``report.md`` and the subtitle tracks ``events.srt`` / ``events.vtt``.

Model text, file names and context strings are escaped for each format: Markdown syntax that would
be misread and HTML are neutralised in ``report.md``; cue text cannot end a cue early or inject tags in subtitles.
"""

from __future__ import annotations

import re
from pathlib import Path

from veille.i18n import clock, events_found, labels, threat_label
from veille.io import write_text
from veille.report.ranking import anomaly_note, ranked_events, ranking_line
from veille.report.schema import Report, ReportEvent

# Inline syntax that works anywhere in a line: code, emphasis, links and images, tables, strikethrough.
_MD_INLINE = re.compile(r"([\\`*\[\]|~])")
# "_" opens or closes emphasis only at a word's edge ("snake_case" is safe).
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# An entity or character reference ("&copy;", "&#60;") would be decoded; a lone "&" is shown as is.
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# Block syntax at the start of a line: heading, quote, list item, thematic break, setext underline.
_MD_LINE_START = re.compile(r"^(#{1,6}(?=\s|$)|>|[-+=](?=\s|$|[-+=])|\d{1,9}(?=[.)](?:\s|$)))")
# A closing "#" run at the end of a heading line would be dropped.
_MD_CLOSING_HASHES = re.compile(r"(?<=\s)#(?=#*$)")


def _md_line(line: str) -> str:
    line = _MD_ENTITY.sub("&amp;", line).replace("<", "&lt;")
    line = _MD_UNDERSCORE.sub(r"\\_", _MD_INLINE.sub(r"\\\1", line))
    line = _MD_CLOSING_HASHES.sub(r"\\#", line)
    match = _MD_LINE_START.match(line)
    if match is None:
        return line
    marker = match.group(1)
    if marker[0].isdigit():  # "2024. A year" would start a numbered list: escape the dot
        return f"{marker}\\{line[len(marker):]}"
    return f"\\{line}"


def md_escape(text: str, *, inline: bool = True) -> str:
    """``text`` shown literally by any Markdown renderer, escaping only what would be misread.

    Ordinary punctuation (``.``, ``(``, ``-`` in a sentence) stays as it is; raw HTML cannot start
    (``<`` becomes ``&lt;``); line-start markers are escaped on every line. ``inline`` joins the
    text into one line.
    """
    if inline:
        return _md_line(" ".join(text.split()))
    return "\n".join(_md_line(line.strip()) for line in text.splitlines())


def _md_event(event: ReportEvent, lang: str, note: str = "") -> list[str]:
    t = labels(lang)
    lines = [
        f"### {clock(event.start_s)}–{clock(event.end_s)} · **{threat_label(event.threat_level, lang)}** · "
        f"{md_escape(event.title)}",
        "",
        md_escape(event.description, inline=False),
        "",
        f"{t['confidence']} {event.confidence:.0%} · {t[f'source_{event.source}']}"
        + (f" · {md_escape(note)}" if note else "")
        + (f" · [{t['clip']}](<{event.clip}>)" if event.clip else ""),
        "",
    ]
    for k in event.keyframes:
        lines.append(f"![{t['keyframe_at']} {clock(k.t_s)}](<{k.image}>)")
    return [*lines, ""] if event.keyframes else lines


def render_markdown(report: Report, lang: str = "en") -> str:
    """The whole ``report.md``."""
    t, video = labels(lang), report.video
    name = md_escape(Path(video.path).name)
    lines = [f"# {t['report_title']} — {name}", ""]
    if not report.complete:
        lines += [f"> **{t['incomplete']}**", ""]
    if report.warnings:  # near the top: the reader learns first when the analysis is not what was asked for
        lines += [f"## {t['warnings']}", "", *[f"- {md_escape(w)}" for w in report.warnings], ""]
    lines += [
        f"{t['duration']} {clock(video.duration_s)} · {video.width}×{video.height} · {md_escape(video.codec)} · "
        + events_found(len(report.events), video.duration_s, lang),
        "",
        f"## {t['summary']}",
        "",
        md_escape(report.summary, inline=False) or "–",
        "",
        f"## {t['events']}",
        "",
    ]
    if not report.events:
        lines += [t["no_events"], ""]
    if ranking_line(report, lang):
        lines += [md_escape(ranking_line(report, lang)), ""]
    for event in ranked_events(report):
        lines += _md_event(event, lang, anomaly_note(report, event, lang))
    stats = report.stats
    lines += [f"## {t['stats']}", "", "| | |", "|---|---:|"]
    for key in ("frames_total", "packets_scanned", "frames_decoded", "frames_to_vlm", "vlm_calls", "llm_calls"):
        lines.append(f"| {t[key]} | {getattr(stats, key):,} |")
    lines += [
        f"| {t['scan_s']} | {stats.scan_s:.1f} s |",
        f"| {t['analysis_s']} | {stats.analysis_s:.1f} s |",
        f"| {t['realtime_factor']} | {stats.realtime_factor:g}× |",
    ]
    if stats.download_s > 0:
        lines.append(f"| {t['download_s']} | {stats.download_s:.1f} s |")
    return "\n".join([*lines, ""])


def _cue_text(event: ReportEvent, lang: str, *, vtt: bool) -> str:
    text = f"[{threat_label(event.threat_level, lang)}] {event.title} — {event.description}"
    text = " ".join(text.split()).replace("-->", "→")
    if vtt:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("<", "‹").replace(">", "›").replace("{", "(").replace("}", ")")


def _stamp(seconds: float, sep: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def render_subtitles(report: Report, lang: str = "en", *, vtt: bool = False) -> str:
    """One cue per event, "[threat] title — description", in SRT or WebVTT."""
    sep = "." if vtt else ","
    blocks = ["WEBVTT"] if vtt else []
    for number, event in enumerate(report.events, start=1):
        end = max(event.end_s, event.start_s + 0.5)
        cue = f"{_stamp(event.start_s, sep)} --> {_stamp(end, sep)}\n{_cue_text(event, lang, vtt=vtt)}"
        blocks.append(f"{number}\n{cue}")
    return "\n\n".join(blocks) + "\n"


def write_markdown(report: Report, folder: Path, lang: str = "en") -> Path:
    """Write ``report.md`` into ``folder``."""
    path = folder / "report.md"
    write_text(path, render_markdown(report, lang))
    return path


def write_srt(report: Report, folder: Path, lang: str = "en") -> Path:
    """Write ``events.srt`` into ``folder``."""
    path = folder / "events.srt"
    write_text(path, render_subtitles(report, lang))
    return path


def write_vtt(report: Report, folder: Path, lang: str = "en") -> Path:
    """Write ``events.vtt`` into ``folder``."""
    path = folder / "events.vtt"
    write_text(path, render_subtitles(report, lang, vtt=True))
    return path
