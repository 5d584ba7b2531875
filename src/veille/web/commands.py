"""The ``serve`` and ``review export`` commands."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from veille.web.security import is_loopback, new_secret

EXPORT_FIELDS = ("folder", "number", "mark", "note", "start_s", "end_s", "title", "camera", "indexed", "marked_at")


def _warn(message: str) -> None:
    click.echo(f"veille: warning: {message}", err=True)


def _reasoner(llm: str | None, config: Path | None) -> Any:
    """The ask page's reasoner: None for ``--llm none`` (the best events are cited instead)."""
    if llm is None or llm == "none":
        return None
    from veille.archive.ask import answer
    from veille.archive.commands import _reason
    from veille.cli import _settings

    settings = _settings(config, {"llm": llm, "vlm": "none", "grounder": "none", "quiet": True})

    def reason(question: str, hits: list, store: Any) -> Any:
        return _reason(question, hits, store, settings, answer)

    return reason


def run_serve(
    out_dir: Path, *, host: str, port: int, token: str | None, lang: str, llm: str | None, config: Path | None
) -> None:
    """``veille serve``: the archive of ``out_dir`` in the browser until Ctrl-C."""
    import uvicorn

    from veille.archive.indexer import index_path
    from veille.archive.service import check_out_dir, open_index
    from veille.archive.store import Store
    from veille.web.app import create_app
    from veille.web.archive import WebArchive

    check_out_dir(out_dir)
    loopback = is_loopback(host)
    if not loopback:
        token = token or new_secret()
        _warn(f"serving on {host}, reachable from other machines: every request needs the token")
    click.echo(f"veille: opening the archive of {out_dir} (search model loading)…", err=True)
    store, embedder = open_index(out_dir, warn=_warn)
    store.close()
    archive = WebArchive(out_dir, Store(index_path(out_dir), shared=True), embedder, reasoner=_reasoner(llm, config))
    app = create_app(archive, lang=lang, token=token, loopback_hosts=loopback)
    shown = "localhost" if loopback else host
    address = f"http://{shown}:{port}/" + ("" if token is None else f"?token={token}")
    click.echo(f"veille: serving {out_dir} at {address} (Ctrl-C to stop)")
    config_ = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2,
                             server_header=False)  # fmt: skip
    server = _Server(config_, app.state.stopping)
    try:
        server.run()
    finally:
        archive.store.close()


def _Server(config: Any, stopping: Any) -> Any:
    """A uvicorn server that also ends the live-update streams when told to stop."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            stopping.set()
            super().handle_exit(sig, frame)

    return Server(config)


def export_reviews(out_dir: Path, fmt: str) -> str:
    """Every review mark of ``out_dir``'s index as CSV or JSON text."""
    from veille.archive.indexer import index_path
    from veille.archive.service import check_out_dir
    from veille.archive.store import Store
    from veille.errors import UsageError
    from veille.web.reviews import all_marks

    check_out_dir(out_dir)
    if not index_path(out_dir).is_file():
        raise UsageError(f"{out_dir} has no index yet; run `veille index {out_dir}` (or `veille serve`) first")
    with Store(index_path(out_dir)) as store:
        rows = all_marks(store.conn)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@click.command("serve")
@click.argument("out_dir", required=False, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (off loopback: token).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--token", help="Token every request must carry (default off loopback: a new one, printed).")
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True)
@click.option("--llm", default="none", show_default=True, help="Reasoner of the ask page ('none': cite best events).")
@click.option("--config", type=click.Path(path_type=Path), help="Settings file (default ./veille.toml).")
def serve_command(
    out_dir: Path | None, host: str, port: int, token: str | None, lang: str, llm: str, config: Path | None
) -> None:
    """Browse the archive of a report folder (default ./veille-reports): timeline, search, review."""
    from veille.cli import _out_dir

    run_serve(_out_dir(out_dir, config), host=host, port=port, token=token, lang=lang, llm=llm, config=config)


@click.group("review")
def review_group() -> None:
    """The review marks set in `veille serve` (confirmed, false alarm, note)."""


@review_group.command("export")
@click.argument("out_dir", required=False, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
def review_export(out_dir: Path | None, fmt: str) -> None:
    """Print every review mark of a report folder's index (default ./veille-reports)."""
    from veille.cli import _out_dir

    sys.stdout.write(export_reviews(_out_dir(out_dir), fmt))
