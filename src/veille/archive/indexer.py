"""Keep an output folder's index in step with its report folders.

:func:`sync` adds the reports that are new or changed since they were indexed (a re-analysed video
replaces its rows) and drops the rows of folders whose report is gone, one transaction per video;
it reads only the reports, never a model. :func:`embed_pending` then embeds the events that have no
embedding yet. :func:`rebuild` makes a whole new index from the reports alone, in a new file that
replaces the old one only once complete.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veille.archive import INDEX_FILE
from veille.archive.reports import REPORT_FILE, UnknownReport, read_report
from veille.archive.store import Store
from veille.errors import UsageError

if TYPE_CHECKING:
    from veille.archive.embedder import Embedder

#: Events embedded per transaction (and per call of the model, in its own batches of 64).
EMBED_BATCH = 512
Warn = Callable[[str], None]


class EmbedderMismatch(UsageError):
    """The index was embedded with another model than the one asked for."""


@dataclass(slots=True)
class SyncResult:
    """What a sync did: folders indexed and removed, and one warning per report skipped."""

    indexed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def index_path(out_dir: Path) -> Path:
    """Where the index of ``out_dir`` lives."""
    return Path(out_dir) / INDEX_FILE


def report_folders(out_dir: Path) -> dict[str, Path]:
    """The report folders of ``out_dir`` (those holding a ``report.json``), by name.

    Live cameras (``veille watch``) keep one report per day in ``CAMERA/DATE/``: named ``CAMERA/DATE``.
    """
    out_dir = Path(out_dir)
    found = {p.parent.name: p.parent for p in sorted(out_dir.glob(f"*/{REPORT_FILE}")) if p.is_file()}
    for p in sorted(out_dir.glob(f"*/*/{REPORT_FILE}")):
        if p.is_file() and p.parent.parent.name not in found:
            found[f"{p.parent.parent.name}/{p.parent.name}"] = p.parent
    return found


def _stamp(folder: Path) -> tuple[int, int] | None:
    try:
        info = (folder / REPORT_FILE).stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def sync(store: Store, out_dir: Path, *, only: Sequence[str] | None = None, warn: Warn | None = None) -> SyncResult:
    """Bring the rows of ``out_dir``'s report folders (or just the folders ``only``) up to date.

    A report the index cannot read is skipped with a warning (once per version of the file).
    """
    result = SyncResult()
    known, skipped = store.reports(), store.skipped()
    names = set(report_folders(out_dir)) | set(known) | set(skipped) if only is None else set(only)
    for name in sorted(names):
        folder = Path(out_dir) / name
        stamp = _stamp(folder)
        if stamp is None:
            if name in known or name in skipped:
                with store.transaction():
                    store.remove_video(name)
                result.removed.append(name)
            continue
        if known.get(name, (0, None, None))[1:] == stamp or skipped.get(name) == stamp:
            continue
        try:
            video = read_report(folder, name)
        except UnknownReport as exc:
            message = f"{name}/{REPORT_FILE} left out of the index: {exc}"
            result.skipped.append(message)
            if warn is not None:
                warn(message)
            with store.transaction():
                store.skip(name, stamp, str(exc))
            continue
        with store.transaction():
            store.replace_video(video, stamp)
        result.indexed.append(name)
    return result


def check_embedder(store: Store, embedder: Embedder, out_dir: Path) -> None:
    """Raise :class:`EmbedderMismatch` when the index's embeddings come from another model."""
    recorded = store.meta("embedder")
    if recorded is not None and (recorded != embedder.name or store.meta("dim") != str(embedder.dim)):
        raise EmbedderMismatch(mismatch(out_dir, recorded, embedder.name))


def mismatch(out_dir: Path, recorded: str, asked: str) -> str:
    """The message of :class:`EmbedderMismatch`."""
    return (
        f"the index of {out_dir} was embedded with {recorded}, not {asked}; search without --embedder,"
        f" or run `veille index {out_dir} --embedder {asked}` to embed it again"
    )


def embed_pending(
    store: Store, embedder: Embedder, out_dir: Path, *, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Embed every event that has no embedding yet; return how many were embedded."""
    check_embedder(store, embedder, out_dir)
    pending = store.pending()
    if pending and on_progress is not None:
        on_progress(0, len(pending))
    for start in range(0, len(pending), EMBED_BATCH):
        part = pending[start : start + EMBED_BATCH]
        vectors = _encode_once([text for _, text in part], embedder)
        with store.transaction():
            if store.meta("embedder") is None:
                store.set_meta("embedder", embedder.name)
                store.set_meta("dim", str(embedder.dim))
            store.put_vectors([event_id for event_id, _ in part], vectors)
        if on_progress is not None:
            on_progress(start + len(part), len(pending))
    return len(pending)


def _encode_once(texts: list[str], embedder: Embedder) -> np.ndarray:
    """The embeddings of ``texts``, each distinct text embedded once (motion-only events repeat a lot)."""
    unique = list(dict.fromkeys(texts))
    vectors = embedder.encode(unique)
    where = {text: i for i, text in enumerate(unique)}
    return vectors[[where[text] for text in texts]]


def recorded_embedder(out_dir: Path) -> str | None:
    """The embedding model the existing index of ``out_dir`` was made with (None: no index, or none yet)."""
    path = index_path(out_dir)
    if not path.is_file():
        return None
    try:
        with Store(path) as store:
            return store.meta("embedder")
    except Exception:  # a damaged index says nothing
        return None


def _settle(path: Path) -> None:
    """Let SQLite roll back a transaction a killed process left in ``path``'s journal, before it is replaced."""
    if path.is_file():
        with contextlib.suppress(Exception), Store(path) as store:
            store.meta("store_version")


def _carry_kept(store: Store, old: Path, warn: Warn | None) -> None:
    """Keep the old index's review marks in the new one (a damaged old index keeps none, with a warning)."""
    if not old.is_file():
        return
    try:
        store.carry_kept(old)
    except sqlite3.Error as exc:
        if warn is not None:
            warn(f"the review marks of {old} could not be carried into the new index ({exc})")


def rebuild(
    out_dir: Path,
    embedder: Embedder,
    *,
    warn: Warn | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[SyncResult, int]:
    """A new index of ``out_dir`` from its reports alone, put in place of the old one when complete."""
    final = index_path(out_dir)
    _settle(final)
    temporary = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    for leftover in (temporary, temporary.with_name(temporary.name + "-journal")):
        leftover.unlink(missing_ok=True)
    try:
        with Store(temporary) as store:
            with store.transaction():
                store.set_meta("embedder", embedder.name)
                store.set_meta("dim", str(embedder.dim))
            _carry_kept(store, final, warn)
            result = sync(store, out_dir, warn=warn)
            embedded = embed_pending(store, embedder, out_dir, on_progress=on_progress)
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return result, embedded
