"""The SQLite file of the index: tables, transactions, and what searching reads from it.

Every change is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``); an error, a Ctrl-C or a killed
process in the middle leaves the index as it was before (SQLite rolls an unfinished transaction
back). Embeddings are stored as float16 (half the size; a cosine moves by about 1e-3).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from veille.archive.lexical import TOKENIZER, store_tokens
from veille.archive.reports import EventRow, VideoRow
from veille.errors import OutputError

#: Version of the tables below; an index of another version is rebuilt from the reports.
STORE_VERSION = 1
#: Tables that are not made from the reports and are carried over whole when the index is rebuilt:
#: the operator's review marks (``veille.web.reviews``).
KEPT_TABLES = ("reviews",)
_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE videos (
    id INTEGER PRIMARY KEY, folder TEXT NOT NULL UNIQUE, path TEXT NOT NULL, camera TEXT,
    start_ts REAL, start_source TEXT, duration_s REAL NOT NULL, complete INTEGER NOT NULL,
    report_mtime_ns INTEGER NOT NULL, report_size INTEGER NOT NULL)""",
    """CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL REFERENCES videos(id), number INTEGER NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
    threat INTEGER NOT NULL, confidence REAL, anomaly REAL, source TEXT NOT NULL, keyframes TEXT NOT NULL)""",
    "CREATE INDEX events_video ON events(video_id)",
    """CREATE TABLE skipped (folder TEXT PRIMARY KEY, report_mtime_ns INTEGER NOT NULL, report_size INTEGER NOT NULL,
    reason TEXT NOT NULL)""",
    "CREATE TABLE embeddings (event_id INTEGER PRIMARY KEY REFERENCES events(id), vector BLOB NOT NULL)",
    "CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE)",
    """CREATE TABLE tokens (event_id INTEGER PRIMARY KEY REFERENCES events(id), terms BLOB NOT NULL,
    length INTEGER NOT NULL)""",
    f"""CREATE VIRTUAL TABLE events_fts USING fts5(title, description, content='events', content_rowid='id',
    tokenize='{TOKENIZER}')""",
    """CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN
    INSERT INTO events_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END""",
    """CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN
    INSERT INTO events_fts(events_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
    END""",
)


def event_text(title: str, description: str) -> str:
    """What is embedded for an event (the same as :meth:`EventRow.text`)."""
    return EventRow(0, 0.0, 0.0, title, description, 0, None, None, "").text()


class Store:
    """An open index file. Use as a context manager (closes the connection)."""

    def __init__(self, path: Path, *, shared: bool = False) -> None:
        """Open (creating when missing) the index at ``path``; ``shared``: usable by several threads, one at a time."""
        self.path = path
        try:
            self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=not shared)
            self.conn.execute("PRAGMA foreign_keys = OFF")
            if not self._has_tables():
                with self.transaction():
                    if not self._has_tables():  # another process may have made them meanwhile
                        for statement in _TABLES:
                            self.conn.execute(statement)
                        self.set_meta("store_version", str(STORE_VERSION))
        except sqlite3.DatabaseError as exc:
            raise OutputError(
                f"cannot open the index {path}: {exc}; check that its folder can be written,"
                f" or rebuild it with `veille index {path.parent}`"
            ) from exc

    def _has_tables(self) -> bool:
        row = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        return row is not None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed whole at the end, rolled back on any exception or interrupt."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '1')")
        self.conn.execute("COMMIT")

    def carry_kept(self, old: Path) -> None:
        """Copy the :data:`KEPT_TABLES` of the index file ``old`` (when it has them) into this one.

        Raises:
            sqlite3.Error: ``old`` cannot be read.
        """
        self.conn.execute("ATTACH DATABASE ? AS old", (str(old),))
        try:
            for table in KEPT_TABLES:
                found = self.conn.execute(
                    "SELECT sql FROM old.sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                if found is None:
                    continue
                with self.transaction():
                    self.conn.execute(f"DROP TABLE IF EXISTS main.{table}")
                    self.conn.execute(found[0])
                    self.conn.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
        finally:
            self.conn.execute("DETACH DATABASE old")

    def meta(self, key: str) -> str | None:
        """A value of the ``meta`` table (``embedder``, ``dim``, ``generation``, ``store_version``)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``meta`` value (inside a transaction)."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """A number that changes with every committed change."""
        return int(self.meta("generation") or 0)

    def reports(self) -> dict[str, tuple[int, int, int]]:
        """Each indexed folder's video id and the ``(mtime_ns, size)`` its report had when indexed."""
        rows = self.conn.execute("SELECT folder, id, report_mtime_ns, report_size FROM videos")
        return {folder: (vid, mtime, size) for folder, vid, mtime, size in rows}

    def skipped(self) -> dict[str, tuple[int, int]]:
        """The folders whose report was skipped, and the ``(mtime_ns, size)`` it had then."""
        rows = self.conn.execute("SELECT folder, report_mtime_ns, report_size FROM skipped")
        return {folder: (mtime, size) for folder, mtime, size in rows}

    def skip(self, folder: str, stamp: tuple[int, int], reason: str) -> None:
        """Remember that this version of ``folder``'s report was skipped (inside :meth:`transaction`)."""
        self.remove_video(folder)
        self.conn.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?)", (folder, *stamp, reason))

    def replace_video(self, video: VideoRow, stamp: tuple[int, int]) -> None:
        """Put ``video`` and its events in place of its old rows (their embeddings come later).

        Call inside :meth:`transaction`.
        """
        self.remove_video(video.folder)
        cur = self.conn.execute(
            "INSERT INTO videos (folder, path, camera, start_ts, start_source, duration_s, complete,"
            " report_mtime_ns, report_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (video.folder, video.path, video.camera, video.start.ts, video.start.source, video.duration_s,
             int(video.complete), *stamp),
        )
        video_id = cur.lastrowid
        texts = []
        for event in video.events:
            cur = self.conn.execute(
                "INSERT INTO events (video_id, number, start_s, end_s, title, description, threat, confidence,"
                " anomaly, source, keyframes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (video_id, event.number, event.start_s, event.end_s, event.title, event.description, event.threat,
                 event.confidence, event.anomaly, event.source, json.dumps(event.keyframes)),
            )
            texts.append((int(cur.lastrowid or 0), event.title, event.description))
        if texts:
            store_tokens(self.conn, texts)

    def remove_video(self, folder: str) -> None:
        """Delete a folder's video, events and embeddings (inside :meth:`transaction`)."""
        self.conn.execute("DELETE FROM skipped WHERE folder = ?", (folder,))
        row = self.conn.execute("SELECT id FROM videos WHERE folder = ?", (folder,)).fetchone()
        if row is None:
            return
        for table in ("embeddings", "tokens"):
            self.conn.execute(f"DELETE FROM {table} WHERE event_id IN (SELECT id FROM events WHERE video_id = ?)", row)
        self.conn.execute("DELETE FROM events WHERE video_id = ?", row)
        self.conn.execute("DELETE FROM videos WHERE id = ?", row)

    def _put_vector(self, event_id: int, vector: np.ndarray) -> None:
        """Store an event's embedding, unless the event is gone meanwhile (ids are never reused)."""
        blob = np.asarray(vector, dtype=np.float16).tobytes()
        self.conn.execute(
            "INSERT OR REPLACE INTO embeddings SELECT ?, ? WHERE EXISTS (SELECT 1 FROM events WHERE id = ?)",
            (event_id, blob, event_id),
        )

    def put_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store the embeddings of events ``ids`` (inside :meth:`transaction`)."""
        for event_id, vector in zip(ids, vectors, strict=True):
            self._put_vector(int(event_id), vector)

    def pending(self) -> list[tuple[int, str]]:
        """The events that have no embedding yet: ``(id, text to embed)``."""
        rows = self.conn.execute(
            "SELECT e.id, e.title, e.description FROM events e LEFT JOIN embeddings x ON x.event_id = e.id"
            " WHERE x.event_id IS NULL ORDER BY e.id"
        )
        return [(event_id, event_text(title, description)) for event_id, title, description in rows]

    def count(self, table: str) -> int:
        """How many rows ``table`` holds (``videos``, ``events``, ``embeddings``)."""
        if table not in ("videos", "events", "embeddings"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def cameras(self) -> dict[int, str | None]:
        """Each video's camera, by video id."""
        return dict(self.conn.execute("SELECT id, camera FROM videos").fetchall())

    def full_text(self, match: str) -> tuple[np.ndarray, np.ndarray]:
        """The event ids the FTS5 query ``match`` finds, and their BM25 relevance (higher better).

        The reference :class:`~veille.archive.lexical.LexicalIndex` reproduces (it is much faster).
        """
        rows = self.conn.execute(
            "SELECT rowid, -bm25(events_fts) FROM events_fts WHERE events_fts MATCH ?", (match,)
        ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ids, scores = zip(*rows, strict=True)
        return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)

    def event_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The full rows of events ``ids`` with their video's folder, path, camera and start."""
        marks = ",".join("?" * len(ids))
        cur = self.conn.execute(
            "SELECT e.id, v.folder AS video, v.path, v.camera, v.start_ts, v.start_source, e.number, e.start_s,"
            " e.end_s, e.title, e.description, e.threat, e.confidence, e.anomaly, e.source, e.keyframes"
            f" FROM events e JOIN videos v ON v.id = e.video_id WHERE e.id IN ({marks})",
            [int(i) for i in ids],
        )
        names = [d[0] for d in cur.description]
        rows = {}
        for values in cur:
            row = dict(zip(names, values, strict=True))
            row["keyframes"] = json.loads(row["keyframes"])
            rows[int(row.pop("id"))] = row
        return rows

    def columns(self) -> list[tuple[Any, ...]]:
        """Every event's ``(id, video_id, start_s, end_s, threat, video start_ts, vector blob or None)``, by id."""
        return self.conn.execute(
            "SELECT e.id, e.video_id, e.start_s, e.end_s, e.threat, v.start_ts, x.vector FROM events e"
            " JOIN videos v ON v.id = e.video_id LEFT JOIN embeddings x ON x.event_id = e.id ORDER BY e.id"
        ).fetchall()
