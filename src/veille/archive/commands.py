"""The ``search``, ``ask`` and ``index`` commands: open the index, run, print (a table on a terminal)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from veille.archive.filters import match_camera, parse_when
from veille.archive.search import Hit, Query, Searcher
from veille.archive.service import check_out_dir, open_index
from veille.errors import UsageError
from veille.i18n import clock, count

if TYPE_CHECKING:
    from veille.archive.ask import Answer
    from veille.archive.store import Store
    from veille.settings import Settings

THREAT_NAMES = {0: "normal", 1: "suspicious", 2: "critical"}
THREAT_STYLES = {0: "green", 1: "yellow", 2: "bold red"}


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter options of ``search`` and ``ask``, as typed."""

    camera: str | None = None
    since: str | None = None
    until: str | None = None
    threat: int | None = None
    limit: int = 10


def _warn(message: str) -> None:
    click.echo(f"veille: warning: {message}", err=True)


def _embedding_note(quiet: bool) -> Callable[[int, int], None]:
    def note(done: int, total: int) -> None:
        if done == 0 and not quiet:
            click.echo(f"veille: embedding {count(total, 'new event')} for the search index…", err=True)

    return note


def _times(text: str, filters: Filters) -> tuple[float | None, float | None]:
    """The query's time window, checked with the query itself before the index is opened or a model loaded."""
    if not text.strip():
        raise UsageError("the query is empty; say what to look for, e.g. veille search \"person at the back door\"")
    since = parse_when(filters.since, "--since") if filters.since else None
    until = parse_when(filters.until, "--until") if filters.until else None
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {filters.since} is after --until {filters.until}; swap them")
    return since, until


def _search(out_dir: Path, text: str, filters: Filters, embedder: str | None, quiet: bool) -> tuple[Store, list[Hit]]:
    since, until = _times(text, filters)
    warn = None if quiet else _warn
    store, model = open_index(out_dir, embedder=embedder, warn=warn, on_embed=_embedding_note(quiet))
    try:
        searcher = Searcher(store, model)
        camera = match_camera(filters.camera, searcher.snapshot().cameras.values()) if filters.camera else None
        query = Query(text, camera=camera, since=since, until=until, threat=filters.threat, limit=filters.limit)
        return store, searcher.search(query)
    except BaseException:
        store.close()
        raise


def thumbnail(out_dir: Path, hit: Hit) -> str | None:
    """The hit's thumbnail as a path from where the command ran."""
    return None if hit.thumbnail is None else str(out_dir / hit.thumbnail)


def hits_json(out_dir: Path, hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The hits as ``--json`` prints them (thumbnails as paths from where the command ran)."""
    return [{**hit.as_json(), "thumbnail": thumbnail(out_dir, hit)} for hit in hits]


def print_hits(out_dir: Path, hits: Sequence[Hit], *, tty: bool | None = None) -> None:
    """The hits: a table on a terminal, one line each otherwise."""
    if not hits:
        click.echo("no event matches")
        return
    if tty if tty is not None else sys.stdout.isatty():
        _hits_table(out_dir, hits)
        return
    for hit in hits:
        when = f"  {hit.when.replace('T', ' ')}" if hit.when else ""
        camera = f"  camera {hit.camera}" if hit.camera else ""
        click.echo(
            f"{hit.score:.3f}  {hit.video} @ {clock(hit.start_s)}–{clock(hit.end_s)}{when}{camera}"
            f"  [{THREAT_NAMES.get(hit.threat, '?')}]  {hit.title}"
        )
        if hit.description and hit.description != hit.title:
            click.echo(f"       {hit.description[:200]}")
        if hit.thumbnail:
            click.echo(f"       {thumbnail(out_dir, hit)}")


def _hits_table(out_dir: Path, hits: Sequence[Hit]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False)
    for name in ("score", "video", "time", "when · camera", "threat", "event"):
        table.add_column(name, no_wrap=name in ("score", "time", "threat"))
    for hit in hits:
        what = Text(hit.title, style="bold")
        if hit.description and hit.description != hit.title:
            what.append("\n" + hit.description[:200], style="dim")
        if hit.thumbnail:
            what.append(f"\n{thumbnail(out_dir, hit)}", style="cyan")
        where = " · ".join(x for x in ((hit.when or "").replace("T", " "), hit.camera or "") if x)
        threat = Text(THREAT_NAMES.get(hit.threat, "?"), style=THREAT_STYLES.get(hit.threat, ""))
        times = f"{clock(hit.start_s)}–{clock(hit.end_s)}"
        table.add_row(Text(f"{hit.score:.3f}"), Text(hit.video), Text(times), Text(where), threat, what)
    Console(highlight=False).print(table)


def run_search(
    out_dir: Path, text: str, filters: Filters, *, embedder: str | None, as_json: bool, quiet: bool = False
) -> None:
    """``veille search``: print the best events for ``text``."""
    store, hits = _search(out_dir, text, filters, embedder, quiet)
    store.close()
    if as_json:
        click.echo(json.dumps(hits_json(out_dir, hits), indent=2, ensure_ascii=False))
    else:
        print_hits(out_dir, hits)


def run_index(out_dir: Path, *, embedder: str | None, quiet: bool = False) -> None:
    """``veille index``: rebuild the index of ``out_dir`` from its reports alone."""
    from veille.archive.embedder import load_embedder
    from veille.archive.indexer import index_path, rebuild, recorded_embedder
    from veille.archive.store import Store

    check_out_dir(out_dir)
    started = time.perf_counter()
    model = load_embedder(embedder or recorded_embedder(out_dir))
    result, embedded = rebuild(out_dir, model, warn=_warn, on_progress=_embedding_note(quiet))
    with Store(index_path(out_dir)) as store:
        videos, events = store.count("videos"), store.count("events")
    if not quiet:
        skipped = f"; {count(len(result.skipped), 'report')} left out" if result.skipped else ""
        click.echo(
            f"indexed {count(videos, 'video')}, {count(events, 'event')} ({embedded} embedded with {model.name})"
            f" in {time.perf_counter() - started:.1f} s{skipped}: {index_path(out_dir)}"
        )


def run_ask(
    out_dir: Path, question: str, filters: Filters, settings: Settings, *, embedder: str | None, as_json: bool
) -> None:
    """``veille ask``: the reasoner's answer from the events found, with checked citations.

    Without a reasoner (none configured, or it cannot be had) the events found are printed, with a note.
    """
    from veille.archive.ask import answer, citation

    store, hits = _search(out_dir, question, filters, embedder, settings.quiet)
    try:
        reply, model, note = None, None, None
        if not hits:
            note = "no indexed event matches the question"
        else:
            reply, model, note = _reason(question, hits, store, settings, answer)
    finally:
        store.close()
    if as_json:
        data = {
            "question": question,
            "answer": None if reply is None else reply.text,
            "model": model,
            "note": note,
            "citations": hits_json(out_dir, reply.cited) if reply else [],
            "dropped": reply.dropped if reply else [],
            "events": hits_json(out_dir, hits),
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if reply is None:
        click.echo(f"{note}.")
        if hits:
            click.echo("The events that match best:")
            print_hits(out_dir, hits)
        return
    click.echo(reply.text or "(the reasoner's answer held nothing once its unknown citations were dropped)")
    if reply.cited:
        click.echo("\nSources:")
        for hit in reply.cited:
            when = f", {hit.when.replace('T', ' ')}" if hit.when else ""
            click.echo(f"  {citation(hit)} {hit.title}{when}")
    if reply.dropped:
        dropped = " ".join(reply.dropped)
        click.echo(f"\n{count(len(reply.dropped), 'citation')} dropped (no such event in the index): {dropped}")


class _Quiet:
    """A progress receiver that shows downloads but keeps the reasoner's warnings for the note."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        self.inner.start(stage, total, unit=unit)

    def update(self, stage: str, done: float) -> None:
        self.inner.update(stage, done)

    def finish(self, stage: str) -> None:
        self.inner.finish(stage)

    def warn(self, message: str) -> None:
        return None


def _reason(
    question: str, hits: Sequence[Hit], store: Store, settings: Settings, answer: Callable[..., Answer]
) -> tuple[Answer | None, str | None, str | None]:
    """``(answer, model id, None)``, or ``(None, None, why not)`` when no reasoner could answer."""
    from veille.console import Console
    from veille.errors import BackendError
    from veille.models.availability import download_notice
    from veille.models.session import ModelSession

    warnings: list[str] = []
    console = Console(quiet=settings.quiet)
    notice = download_notice(settings)  # the reasoner alone: ask sets no describer and no grounder
    if notice:
        console.note(notice)
    with ModelSession(settings, progress=_Quiet(console.progress()), warnings=warnings) as session:
        llm = session.reasoner()
        if llm is None:
            why = warnings[0].removesuffix("; continuing without it") if warnings else "none is set (--llm none?)"
            return None, None, f"no reasoner model was available: {why}"
        try:
            return answer(question, hits, llm, store), llm.info.id, None
        except BackendError as exc:
            return None, None, f"the reasoner failed: {exc}"
