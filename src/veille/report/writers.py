"""Writers: one function per output format, each writing atomically into the report folder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from veille.io import write_text
from veille.report.html import write_html
from veille.report.schema import Report
from veille.report.text import write_markdown, write_srt, write_vtt

Writer = Callable[[Report, Path, str], Path]


def write_json(report: Report, folder: Path, lang: str = "en") -> Path:
    """``report.json``: the schema-v1 contract (language-neutral; ``lang`` is ignored)."""
    path = folder / "report.json"
    write_text(path, report.model_dump_json(indent=2) + "\n")
    return path


WRITERS: dict[str, Writer] = {
    "json": write_json,
    "html": write_html,
    "md": write_markdown,
    "srt": write_srt,
    "vtt": write_vtt,
}


def write_all(report: Report, folder: Path, formats: Iterable[str], *, lang: str = "en") -> list[Path]:
    """Write ``report.json`` (always) and every other requested format, labels in ``lang``."""
    wanted = ["json", *dict.fromkeys(f for f in formats if f != "json")]
    return [WRITERS[f](report, folder, lang) for f in wanted if f in WRITERS]
