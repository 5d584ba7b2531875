"""Batch runs: one report folder per video, ``index.json`` + ``index.html`` linking them all.

A failure on one video is recorded and the others go on; an interruption (Ctrl-C, SIGTERM) writes
the index with what was done, marks it incomplete, and is raised again for the caller to exit 130.
The index is rewritten (atomically) after every video, so it is valid whenever the run stops.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from veille import __version__
from veille.errors import VeilleError
from veille.folders import SOURCE_FILE, assign_folders, claim_folder, source_key
from veille.io import write_text
from veille.redact import mask_credentials

if TYPE_CHECKING:
    from veille.models.session import ModelSession
    from veille.pipeline import AnalysisResult
    from veille.progress import Progress
    from veille.settings import Settings

Status = Literal["ok", "failed", "interrupted", "pending"]
INDEX_JSON = "index.json"
INDEX_HTML = "index.html"


@dataclass(slots=True)
class BatchItem:
    """One video of a batch and what became of it."""

    video: str
    folder: str  # relative to the output folder
    status: Status = "pending"
    error: str | None = None
    events: int = 0
    max_threat: int | None = None
    duration_s: float | None = None
    complete: bool = False
    report: str | None = None
    html: str | None = None


@dataclass(slots=True)
class BatchResult:
    """The items of a batch, in input order."""

    items: list[BatchItem]
    out_dir: Path
    warnings: list[str] = field(default_factory=list)  # e.g. the search index could not be updated

    @property
    def failures(self) -> list[BatchItem]:
        """The items that failed."""
        return [item for item in self.items if item.status == "failed"]


def read_index(out_dir: Path) -> list[dict[str, Any]]:
    """The entries of an existing ``index.json`` (empty when missing or unreadable)."""
    try:
        data = json.loads((out_dir / INDEX_JSON).read_text(encoding="utf-8"))
        return [v for v in data.get("videos", []) if isinstance(v, dict) and isinstance(v.get("folder"), str)]
    except (OSError, ValueError, AttributeError):
        return []


def run_batch(
    videos: Sequence[Path],
    settings: Settings,
    *,
    progress: Callable[[], Progress] | None = None,
    on_done: Callable[[BatchItem, AnalysisResult | None], None] | None = None,
    on_start: Callable[[int, BatchItem], None] | None = None,
) -> BatchResult:
    """Analyse every video into its own folder under ``settings.out_dir``; keep going after failures.

    ``on_start(n, item)`` is called before the n-th video (from 1), ``on_done`` after each.

    Raises:
        AnalysisInterrupted or KeyboardInterrupt: after writing the index marked incomplete.
        OutputError: the index itself cannot be written.
    """

    out_dir = Path(settings.out_dir)
    old = read_index(out_dir)
    folders = assign_folders(videos, out_dir, {e["video_abs"]: e["folder"] for e in old if "video_abs" in e})
    items = [BatchItem(video=mask_credentials(str(v)), folder=folders[v]) for v in videos]
    result = BatchResult(items, out_dir)
    write_index(result, previous=old, videos=videos, complete=False)  # fails early when --out is unusable
    with _model_session(settings) as models:
        _run_items(videos, items, settings, result, old, models, progress, on_done, on_start)
    write_index(result, previous=old, videos=videos, complete=True)
    return result


def _model_session(settings: Settings) -> ModelSession:
    """The models of the whole run; its lifetime decides whether they stay loaded between videos."""
    from veille.models.session import ModelSession

    return ModelSession(settings)


def _run_items(
    videos: Sequence[Path],
    items: list[BatchItem],
    settings: Settings,
    result: BatchResult,
    old: list[dict[str, Any]],
    models: ModelSession,
    progress: Callable[[], Progress] | None,
    on_done: Callable[[BatchItem, AnalysisResult | None], None] | None,
    on_start: Callable[[int, BatchItem], None] | None = None,
) -> None:
    from veille.pipeline import analyze

    for n, (video, item) in enumerate(zip(videos, items, strict=True), start=1):
        if on_start is not None:
            on_start(n, item)
        analysis = None
        folder = Path(settings.out_dir) / item.folder
        try:
            claim_folder(folder, video)
            analysis = analyze(
                video,
                settings,
                progress=progress() if progress else None,
                folder=folder,
                models=models,
            )
            _fill(item, analysis)
        except KeyboardInterrupt:  # AnalysisInterrupted included
            item.status = "interrupted"
            _fill_from_disk(item, Path(settings.out_dir))
            _index_archive(result, item)
            write_index(result, previous=old, videos=videos, complete=False)
            raise
        except VeilleError as exc:
            item.status, item.error = "failed", mask_credentials(str(exc))
        except Exception as exc:
            item.status = "failed"
            item.error = mask_credentials(f"unexpected error: {type(exc).__name__}: {exc} (VEILLE_DEBUG=1 for details)")
        if item.status == "failed":
            _unclaim_if_empty(folder)
        _index_archive(result, item)
        if on_done is not None:
            on_done(item, analysis)
        write_index(result, previous=old, videos=videos, complete=False)


def _index_archive(result: BatchResult, item: BatchItem) -> None:
    """Bring the search index up to date with the report folder of ``item`` (its events, not their embeddings)."""
    from veille.archive.service import index_report

    warning = index_report(result.out_dir, item.folder)
    if warning:
        result.warnings.append(warning)


def _unclaim_if_empty(folder: Path) -> None:
    """After a failure that wrote nothing: remove the owner mark and the folder it alone was in."""
    try:
        if [p.name for p in folder.iterdir()] == [SOURCE_FILE]:
            (folder / SOURCE_FILE).unlink()
            folder.rmdir()
    except OSError:
        pass


def _fill(item: BatchItem, analysis: AnalysisResult) -> None:
    report = analysis.report
    item.status = "ok"
    item.events = len(report.events)
    item.max_threat = max((e.threat_level for e in report.events), default=None)
    item.duration_s = report.video.duration_s
    item.complete = report.complete
    item.report = f"{item.folder}/report.json"
    item.html = f"{item.folder}/report.html" if (analysis.folder / "report.html").is_file() else None


def _fill_from_disk(item: BatchItem, out_dir: Path) -> None:
    """After an interruption: link the partial report if one was written."""
    folder = out_dir / item.folder
    if (folder / "report.json").is_file():
        item.report = f"{item.folder}/report.json"
    if (folder / "report.html").is_file():
        item.html = f"{item.folder}/report.html"


def write_index(
    result: BatchResult,
    *,
    previous: Sequence[dict[str, Any]] = (),
    videos: Sequence[Path] = (),
    complete: bool = True,
) -> None:
    """Write ``index.json`` and ``index.html`` (atomically), keeping earlier entries of other folders."""
    entries = []
    paths: Sequence[Path | None] = videos or [None] * len(result.items)
    for item, video in zip(result.items, paths, strict=True):
        entry = asdict(item)
        if video is not None:
            entry["video_abs"] = source_key(Path(video))
        entries.append(entry)
    mine = {e["folder"].lower() for e in entries}
    kept = [e for e in previous if e["folder"].lower() not in mine and (result.out_dir / e["folder"]).is_dir()]
    rows = entries + kept
    data = {
        "veille_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "complete": complete,
        "total": len(rows),  # every row listed, from this run and earlier ones
        "failed": sum(e.get("status") == "failed" for e in rows),
        "videos": rows,
    }
    write_text(result.out_dir / INDEX_JSON, json.dumps(data, indent=2) + "\n")
    write_text(result.out_dir / INDEX_HTML, render_index_html(data))


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>veille — reports</title>
<style>body{font:15px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.failed{color:#b00}.interrupted,.pending{color:#a60}.t2{color:#b00;font-weight:bold}.t1{color:#a60}</style>
</head><body>
<h1>veille — {{ count(data.total, "video") }}{% if not data.complete %} (incomplete run){% endif %}</h1>
<p>{{ data.failed }} failed · written {{ data.created_at }} · veille {{ data.veille_version }}</p>
<table><tr><th>video</th><th>status</th><th>events</th><th>highest threat</th><th>length</th><th>report</th></tr>
{% for v in data.videos %}<tr class="{{ v.status }}"><td>{{ v.video }}</td>
<td>{{ v.status }}{% if v.status == "ok" and not v.complete %} (partial){% endif %}\
{% if v.error %}: {{ v.error }}{% endif %}</td>
<td>{{ v.events }}</td><td class="t{{ v.max_threat }}">{{ threat(v.max_threat) }}</td>
<td>{% if v.duration_s is not none %}{{ "%.0f"|format(v.duration_s) }} s{% endif %}</td>
<td>{% if v.html %}<a href="{{ v.html|urlencode }}">HTML</a> {% endif %}\
{% if v.report %}<a href="{{ v.report|urlencode }}">JSON</a>{% endif %}</td></tr>
{% endfor %}</table></body></html>
"""


def render_index_html(data: dict[str, Any]) -> str:
    """The HTML index (Jinja2, autoescaped: video names and errors cannot inject markup)."""
    from jinja2 import Environment

    from veille.i18n import count

    env = Environment(autoescape=True, keep_trailing_newline=True)
    names = {0: "normal", 1: "suspicious", 2: "critical"}
    return env.from_string(_TEMPLATE).render(data=data, threat=lambda t: names.get(t, "–"), count=count)
