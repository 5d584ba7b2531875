"""The operator's review marks: *confirmed*, *false alarm* or a *note*, kept in the index file.

Marks live in a ``reviews`` table of ``OUT/archive.sqlite`` keyed by report folder and event number,
the two things that stay the same when a report is indexed again; a rebuild of the index carries the
table over (``Store.carry_kept``). Marks are never deleted with their event: a false alarm is there
to be learned from later, even after the video it was seen in is gone from the archive.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from veille.errors import UsageError

MARKS = ("confirmed", "false_alarm", "note")
NOTE_CHARS = 2000
TABLE = """CREATE TABLE IF NOT EXISTS reviews (
    folder TEXT NOT NULL, number INTEGER NOT NULL, mark TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    start_s REAL, end_s REAL, title TEXT, marked_at TEXT NOT NULL, PRIMARY KEY (folder, number))"""
COLUMNS = ("folder", "number", "mark", "note", "start_s", "end_s", "title", "marked_at")


@dataclass(frozen=True, slots=True)
class Review:
    """One event's mark; ``start_s``, ``end_s`` and ``title`` are the event's as it was when marked."""

    folder: str
    number: int
    mark: str
    note: str
    start_s: float | None
    end_s: float | None
    title: str | None
    marked_at: str

    def as_json(self) -> dict[str, Any]:
        """The mark as ``veille review export --format json`` writes it."""
        return asdict(self)


def ensure_table(conn: sqlite3.Connection) -> None:
    """Make the ``reviews`` table when the index has none yet."""
    conn.execute(TABLE)


def has_table(conn: sqlite3.Connection) -> bool:
    """Whether the index has a ``reviews`` table yet."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'").fetchone() is not None


def set_mark(conn: sqlite3.Connection, folder: str, number: int, mark: str, note: str = "") -> Review | None:
    """Mark event ``number`` of report folder ``folder``; an empty ``mark`` removes its mark (returns None).

    Raises:
        UsageError: the mark is not one of :data:`MARKS`, a note mark has no text, or no such event is indexed.
    """
    note = note.strip()[:NOTE_CHARS]
    if mark and mark not in MARKS:
        raise UsageError(f"unknown mark {mark!r}; give one of {', '.join(MARKS)}")
    if mark == "note" and not note:
        raise UsageError("a note mark needs its text")
    event = conn.execute(
        "SELECT e.start_s, e.end_s, e.title FROM events e JOIN videos v ON v.id = e.video_id"
        " WHERE v.folder = ? AND e.number = ?",
        (folder, number),
    ).fetchone()
    if event is None:
        raise UsageError(f"no event {number} of {folder!r} in the index")
    ensure_table(conn)
    if not mark:
        conn.execute("DELETE FROM reviews WHERE folder = ? AND number = ?", (folder, number))
        return None
    review = Review(folder, number, mark, note, *event, datetime.now(UTC).isoformat(timespec="seconds"))  # type: ignore[call-arg]
    conn.execute(f"INSERT OR REPLACE INTO reviews ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 tuple(getattr(review, c) for c in COLUMNS))  # fmt: skip
    return review


def _rows(conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()) -> list[Review]:
    if not has_table(conn):
        return []
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM reviews {where} ORDER BY folder, number", args)
    return [Review(*row) for row in rows]


def marks_of(conn: sqlite3.Connection, folder: str) -> dict[int, Review]:
    """The marks of one report folder's events, by event number."""
    return {r.number: r for r in _rows(conn, "WHERE folder = ?", (folder,))}


def marks_of_events(conn: sqlite3.Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Review]:
    """The marks of the events ``(folder, number)`` given (those that have one)."""
    if not keys or not has_table(conn):
        return {}
    folders = sorted({folder for folder, _ in keys})
    wanted = set(keys)
    rows = _rows(conn, f"WHERE folder IN ({','.join('?' * len(folders))})", tuple(folders))
    return {(r.folder, r.number): r for r in rows if (r.folder, r.number) in wanted}


def counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """How many events of each report folder carry each mark."""
    if not has_table(conn):
        return {}
    found: dict[str, dict[str, int]] = {}
    for folder, mark, n in conn.execute("SELECT folder, mark, COUNT(*) FROM reviews GROUP BY folder, mark"):
        found.setdefault(folder, {})[mark] = n
    return found


def all_marks(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every mark, with the camera of its video and whether its event is still indexed."""
    rows = []
    for review in _rows(conn):
        found = conn.execute(
            "SELECT v.camera FROM events e JOIN videos v ON v.id = e.video_id WHERE v.folder = ? AND e.number = ?",
            (review.folder, review.number),
        ).fetchone()
        camera = conn.execute("SELECT camera FROM videos WHERE folder = ?", (review.folder,)).fetchone()
        rows.append({**review.as_json(), "camera": camera[0] if camera else None, "indexed": found is not None})
    return rows
