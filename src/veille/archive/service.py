"""Open an output folder's index for searching: made when missing, brought up to date, embedded.

Also the hook the batch calls after each report it writes (:func:`index_report`): rows only, so an
analysis never loads the embedding model; the next search embeds what is new.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from veille.archive.embedder import Embedder, load_embedder, resolve
from veille.archive.indexer import (
    EmbedderMismatch,
    Warn,
    embed_pending,
    index_path,
    mismatch,
    rebuild,
    report_folders,
    sync,
)
from veille.archive.store import STORE_VERSION, Store
from veille.errors import OutputError, UsageError

log = logging.getLogger(__name__)


def check_out_dir(out_dir: Path) -> None:
    """``out_dir`` is a folder holding an index or at least one report.

    Raises:
        UsageError: it is not, with what to do instead.
    """
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder; give the --out folder of `veille analyze`")
    if not index_path(out_dir).is_file() and not report_folders(out_dir):
        raise UsageError(
            f"{out_dir} holds no index and no report; run `veille analyze VIDEO --out {out_dir}` first"
            " (or give --out the folder you analysed into)"
        )


def open_index(
    out_dir: Path,
    *,
    embedder: str | None = None,
    warn: Warn | None = None,
    on_embed: Callable[[int, int], None] | None = None,
) -> tuple[Store, Embedder]:
    """The index of ``out_dir``, up to date with its reports and fully embedded, and its embedder.

    ``embedder`` (default: the one the index was made with, else all-MiniLM-L6-v2) must be the
    index's own; asking for another raises :class:`~veille.archive.indexer.EmbedderMismatch`.
    An index from another version of veille, or damaged, is rebuilt from the reports.
    """
    check_out_dir(out_dir)
    path = index_path(out_dir)
    store = _open_or_rebuild(path, out_dir, embedder, warn)
    try:
        recorded = store.meta("embedder")
        if embedder is not None and recorded is not None and resolve(embedder)[0] != recorded:
            raise EmbedderMismatch(mismatch(out_dir, recorded, resolve(embedder)[0]))  # said before any model loads
        sync(store, out_dir, warn=warn)
        model = load_embedder(embedder or recorded)
        embed_pending(store, model, out_dir, on_progress=on_embed)
    except sqlite3.Error as exc:
        store.close()
        raise OutputError(f"cannot update the index {path}: {exc}; check that {out_dir} can be written") from exc
    except BaseException:
        store.close()
        raise
    return store, model


def _open_or_rebuild(path: Path, out_dir: Path, embedder: str | None, warn: Warn | None) -> Store:
    try:
        store = Store(path)
        if store.meta("store_version") == str(STORE_VERSION):
            return store
        store.close()
        reason = "is from another version of veille"
    except OutputError:
        reason = "cannot be read"
    if warn is not None:
        warn(f"the index {path} {reason}; rebuilding it from the reports")
    rebuild(out_dir, load_embedder(embedder), warn=warn)
    return Store(path)


def index_report(out_dir: Path, folder: str) -> str | None:
    """Add (or replace, or drop) one report folder's rows in ``out_dir``'s index, after its report was written.

    Never raises: the analysis stands whatever happens to the index; returns a warning instead.
    """
    try:
        with Store(index_path(out_dir)) as store:
            if store.meta("store_version") != str(STORE_VERSION):
                return None  # the next search rebuilds it
            result = sync(store, out_dir, only=[folder])
        return result.skipped[0] if result.skipped else None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the report is written; the next search catches up
        log.debug("index update failed", exc_info=True)
        why = f"{type(exc).__name__}: {exc}"
        return f"the search index of {out_dir} was not updated ({why}); the next `veille search` catches up"
