"""The work cache ("memo") of one video: finished work kept in its report folder, so a re-run resumes.

One SQLite file per report folder holds rows ``(stage, key) -> JSON value``. Every row belongs to a
*run key*: a digest of the video's fingerprint (size, mtime, hash of its first and last MiB), of the
settings that shape the analysis and of the model ids. Opening the memo with a different run key
drops the old rows, so stale work is never reused. Each :meth:`Memo.put` is committed at once
(SQLite commits are atomic), so an interrupted run loses at most the item in progress.

Stages used so far: ``scan`` (key ``video``: segments, chunk plans, scan stats) and, by the
analysis engine, per-chunk stages such as ``describe`` / ``reason`` keyed by chunk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.errors import OutputError

if TYPE_CHECKING:
    from veille.settings import Settings
    from veille.types import VideoInfo
    from veille.video.scan import ScanResult

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


def scan_record(scan: ScanResult) -> dict[str, Any]:
    """A JSON-ready record of a finished scan: segments, chunk plans (keyframe times), stretches, stats."""
    plans = getattr(scan, "chunk_plans", None) or []
    return {
        "segments": [dataclasses.asdict(s) for s in scan.segments],
        "chunk_plans": [dataclasses.asdict(p) for p in plans],
        "stretches": [dataclasses.asdict(s) for s in scan.stretches],
        "packets_scanned": scan.packets_scanned,
        "frames_decoded": scan.frames_decoded,
        "scan_s": scan.scan_s,
        "warnings": list(scan.warnings),
        "end_s": scan.end_s,
    }


def restore_scan(record: Mapping[str, Any], info: VideoInfo) -> ScanResult:
    """Rebuild a :class:`ScanResult` from :func:`scan_record`; keyframes are decoded again from the video."""
    from veille.types import Box, ScanStretch, Segment
    from veille.video.chunks import ChunkPlan, load_chunk
    from veille.video.scan import ScanResult

    def plan(data: dict[str, Any]) -> ChunkPlan:
        data = dict(data)
        data["picks"] = tuple(tuple(p) for p in data["picks"])
        data["motion_boxes"] = boxes(data["motion_boxes"])
        data["pick_boxes"] = tuple(boxes(group) for group in data.get("pick_boxes", ()))
        return ChunkPlan(**data)

    def boxes(items: list[dict[str, Any]]) -> tuple[Box, ...]:
        return tuple(Box(b["label"], tuple(b["xyxy"]), b.get("score")) for b in items)

    plans = [plan(p) for p in record["chunk_plans"]]
    return ScanResult(
        segments=[Segment(**s) for s in record["segments"]],
        chunks=[load_chunk(info.path, p) for p in plans],
        stretches=[ScanStretch(**s) for s in record["stretches"]],
        packets_scanned=record["packets_scanned"],
        frames_decoded=record["frames_decoded"],
        scan_s=record["scan_s"],
        warnings=list(record["warnings"]),
        chunk_plans=plans,
        info=info,
        end_s=record.get("end_s"),
    )


def scan_with_memo(memo: Memo, info: VideoInfo, run: Callable[[], ScanResult]) -> tuple[ScanResult, bool]:
    """The scan from the memo when it holds one, else ``run()`` (then stored). Returns (scan, reused)."""
    record = memo.get("scan", "video")
    if record is not None:
        try:
            return restore_scan(record, info), True
        except (KeyError, TypeError, ValueError):  # written by another version: scan again
            memo.warnings.append("the work cache was written by another version; the video was scanned again")
    scan = run()
    memo.put("scan", "video", scan_record(scan))
    return scan, False
