"""The work cache ("memo") of one video: finished work kept in its report folder, so a re-run resumes.

One SQLite file per report folder holds rows ``(stage, key) -> JSON value``. Every row belongs to a
*run key*: a digest of the video's fingerprint (size, mtime, hash of its first and last MiB), of the
settings that shape the analysis and of the model ids. Opening the memo with a different run key
drops the old rows, so stale work is never reused. Each :meth:`Memo.put` is committed at once
(SQLite commits are atomic), so an interrupted run loses at most the item in progress.

Stages used so far: ``scan`` (key ``state``: the scan's state, saved as it goes, so that an
interrupted scan resumes where it stopped) with ``plan`` (one row per chunk plan) and, by the
analysis engine, per-chunk stages such as ``describe`` / ``judge`` keyed by chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.errors import OutputError

if TYPE_CHECKING:
    from veille.settings import Settings
    from veille.types import VideoInfo
    from veille.video.chunks import ChunkPlan

MEMO_FILE = ".veille-work.sqlite"
_MIB = 1 << 20
# Settings that do not change what the analysis finds (where it is written, how it is printed…).
_NOT_IN_DIGEST = {
    "out_dir",
    "formats",
    "verbose",
    "quiet",
    "resume",
    "cache_dir",
    "offline",
    "cleanup_after_analysis",
    "keep_models_loaded",
    "model_lifetime",
    "clips",
    "device",
    "camera",  # the anomaly curve is computed afresh; judge verdicts are kept per camera facts
    "cameras_dir",
    "memory_check",  # whether the analysis may start, not what it finds
    "int8_cache_dir",  # the int8 weights read back are those a fresh quantization makes
    "cluster",  # where the analysis runs, not what it finds
}


def file_fingerprint(path: Path) -> str:
    """Size, mtime and a hash of the first and last MiB of ``path`` (cheap on a 10 GB file)."""
    stat = os.stat(path)
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_MIB))
        if stat.st_size > _MIB:
            handle.seek(max(_MIB, stat.st_size - _MIB))
            digest.update(handle.read(_MIB))
    return digest.hexdigest()


def settings_digest(settings: Settings) -> str:
    """A digest of the settings that shape the analysis's results."""
    data = settings.model_dump(mode="json", exclude=_NOT_IN_DIGEST)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def run_key(video: Path, settings: Settings, models: Mapping[str, str | None] | None = None) -> str:
    """The key under which a run's work is kept: file fingerprint + settings digest + model ids."""
    parts = {"file": file_fingerprint(video), "settings": settings_digest(settings), "models": dict(models or {})}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class Memo:
    """Finished work of one video, kept in ``folder/.veille-work.sqlite``.

    ``get(stage, key)`` returns a stored ``dict`` (and counts a reuse) or ``None``;
    ``put(stage, key, value)`` stores a JSON-serialisable ``dict`` and commits it at once.
    """

    def __init__(self, folder: Path, key: str) -> None:
        self.path = Path(folder) / MEMO_FILE
        self.key = key
        self.hits: Counter[str] = Counter()
        self._reused: set[tuple[str, str]] = set()
        self.warnings: list[str] = []
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._open_db()
        except sqlite3.DatabaseError:  # a damaged cache is dropped, never trusted
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.warnings.append("the work cache was damaged and was started afresh")
            return self._open_db()
        except (OSError, sqlite3.OperationalError) as exc:
            raise OutputError(
                f"cannot write the work cache in {self.path.parent} ({exc}); choose a writable --out"
            ) from exc

    def _open_db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute(
            "CREATE TABLE IF NOT EXISTS work (run TEXT, stage TEXT, key TEXT, value TEXT, PRIMARY KEY(run, stage, key))"
        )
        db.execute("DELETE FROM work WHERE run <> ?", (self.key,))
        return db

    def get(self, stage: str, key: str) -> dict[str, Any] | None:
        """The stored value of ``(stage, key)`` for this run, or ``None``."""
        row = self._db.execute(
            "SELECT value FROM work WHERE run = ? AND stage = ? AND key = ?", (self.key, stage, str(key))
        ).fetchone()
        if row is None:
            return None
        self.hits[stage] += 1
        self._reused.add((stage, str(key)))
        return json.loads(row[0])

    def put(self, stage: str, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``(stage, key)`` and commit."""
        text = json.dumps(value)
        try:
            self._db.execute("INSERT OR REPLACE INTO work VALUES (?, ?, ?, ?)", (self.key, stage, str(key), text))
        except sqlite3.Error as exc:
            raise OutputError(
                f"cannot write the work cache {self.path} ({exc}); free some space or choose --out"
            ) from exc

    def put_many(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Store several ``(stage, key, value)`` rows in one commit (all or none)."""
        data = [(self.key, stage, str(key), json.dumps(value)) for stage, key, value in rows]
        try:
            with contextlib.closing(self._db.cursor()) as cursor:
                cursor.execute("BEGIN")
                try:
                    cursor.executemany("INSERT OR REPLACE INTO work VALUES (?, ?, ?, ?)", data)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            raise OutputError(
                f"cannot write the work cache {self.path} ({exc}); free some space or choose --out"
            ) from exc

    def rows(self, stage: str, *, page: int = 256) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, value)`` of ``stage``, by key, read ``page`` rows at a time as they are used."""
        query = "SELECT key, value FROM work WHERE run = ? AND stage = ? AND key > ? ORDER BY key LIMIT ?"
        last = ""
        while batch := self._db.execute(query, (self.key, stage, last, page)).fetchall():
            for key, value in batch:
                yield key, json.loads(value)
            last = batch[-1][0]

    def count(self, stage: str | None = None) -> int:
        """How many items are stored (in ``stage``, or in all)."""
        if stage is None:
            return self._db.execute("SELECT COUNT(*) FROM work WHERE run = ?", (self.key,)).fetchone()[0]
        query = "SELECT COUNT(*) FROM work WHERE run = ? AND stage = ?"
        return self._db.execute(query, (self.key, stage)).fetchone()[0]

    def reused_chunks(self) -> int:
        """How many chunks had per-chunk work reused: distinct keys of the most-reused stage (``scan`` aside).

        Stages key the same chunk differently (e.g. by model id), so keys are not added across stages.
        """
        per_stage = Counter(stage for stage, _ in self._reused if stage != "scan")
        return max(per_stage.values(), default=0)

    def close(self) -> None:
        """Close the database (the file stays for the next run)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


class NullMemo(Memo):
    """A memo that keeps nothing (``resume = false``)."""

    def __init__(self) -> None:
        self.hits = Counter()
        self._reused = set()
        self.warnings = []

    def get(self, stage: str, key: str) -> dict[str, Any] | None:
        return None

    def put(self, stage: str, key: str, value: dict[str, Any]) -> None:
        return None

    def put_many(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        return None

    def rows(self, stage: str, *, page: int = 256) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(())

    def count(self, stage: str | None = None) -> int:
        return 0

    def close(self) -> None:
        return None


def open_memo(
    folder: Path, info: VideoInfo, settings: Settings, models: Mapping[str, str | None] | None = None
) -> Memo:
    """The memo of ``info.path`` in ``folder`` (a :class:`NullMemo` when ``settings.resume`` is off)."""
    if not settings.resume:
        return NullMemo()
    return Memo(folder, run_key(info.path, settings, models))


# --- the scan stage -------------------------------------------------------------------------------

#: The scan's rows: its state (``scan``/``state``, whole once the scan is complete) and one row per
#: chunk plan (``plan``/``000042``), written together so that a state never names a plan not stored.
SCAN_STATE = ("scan", "state")
PLAN_STAGE = "plan"


def load_scan_state(memo: Memo) -> dict[str, Any] | None:
    """The scan state kept for this run (a finished or an interrupted scan), or None."""
    return memo.get(*SCAN_STATE)


def save_scan_state(memo: Memo, state: dict[str, Any], plans: Sequence[ChunkPlan]) -> None:
    """Keep the scan's state and the plans made since the last call, in one commit."""
    from veille.video.chunks import plan_state

    rows = [(PLAN_STAGE, f"{p.id:06d}", plan_state(p)) for p in plans]
    memo.put_many([*rows, (*SCAN_STATE, state)])


def stored_plans(memo: Memo, before_id: int) -> Iterator[ChunkPlan]:
    """The kept chunk plans with an id below ``before_id``, in order (read lazily)."""
    from veille.video.chunks import plan_from

    for key, value in memo.rows(PLAN_STAGE):
        if int(key) >= before_id:
            break
        yield plan_from(value)
