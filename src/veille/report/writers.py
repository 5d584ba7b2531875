"""Writers: one function per output format, each writing atomically into the report folder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from veille.io import write_text
from veille.report.schema import Report

Writer = Callable[[Report, Path], Path]


def write_json(report: Report, folder: Path) -> Path:
    """``report.json``: the schema-v1 contract."""
    path = folder / "report.json"
    write_text(path, report.model_dump_json(indent=2) + "\n")
    return path


WRITERS: dict[str, Writer] = {"json": write_json}


def write_all(report: Report, folder: Path, formats: Iterable[str]) -> list[Path]:
    """Write ``report.json`` (always) and every other requested format that has a writer."""
    wanted = ["json", *[f for f in formats if f != "json"]]
    return [WRITERS[f](report, folder) for f in wanted if f in WRITERS]
