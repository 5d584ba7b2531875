"""Hybrid search over the index: full text (FTS5's BM25) and embedding similarity, fused.

Every event that passes the filters is a candidate; each gets its cosine similarity to the query's
embedding and its BM25 relevance (0 where the full text does not match), and
:func:`veille.archive.fusion.fused_scores` ranks them. The index's columns, tokens and embeddings
are read once into memory (and again only after the index changed), so a query costs one
embedding, one matrix-vector product over the float16 embeddings, and BM25 over the postings of
its words (:mod:`veille.archive.lexical`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from veille.archive import fusion
from veille.archive.lexical import LexicalIndex
from veille.archive.store import Store

if TYPE_CHECKING:
    from veille.archive.embedder import Embedder

@dataclass(frozen=True, slots=True)
class Query:
    """A search: the text, filters (camera, POSIX time window, lowest threat level) and how many hits."""

    text: str
    camera: str | None = None
    since: float | None = None
    until: float | None = None
    threat: int | None = None
    limit: int = 10


@dataclass(slots=True)
class Hit:
    """One event found; ``video`` is its report folder's name, ``thumbnail`` a path under the output folder."""

    video: str
    start_s: float
    end_s: float
    title: str
    description: str
    threat: int
    score: float
    thumbnail: str | None
    camera: str | None
    when: str | None
    event: int
    path: str

    def as_json(self) -> dict[str, Any]:
        """The hit as ``--json`` prints it."""
        return {
            "video": self.video,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "title": self.title,
            "score": round(self.score, 4),
            "description": self.description,
            "threat": self.threat,
            "thumbnail": self.thumbnail,
            "camera": self.camera,
            "when": self.when,
            "event": self.event,
            "path": self.path,
        }


@dataclass(slots=True)
class Snapshot:
    """The index's columns in memory, one entry per event, ordered by event id."""

    generation: int
    ids: np.ndarray
    video: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    threat: np.ndarray
    video_start: np.ndarray  # POSIX seconds of the video's start; NaN when unknown
    vectors: Any  # (n, dim) float16 torch tensor, unit rows (zeros where an event has no embedding)
    cameras: dict[int, str | None]
    lexical: LexicalIndex

    def similarity(self, vector: np.ndarray) -> np.ndarray:
        """The cosine of every event's embedding with the unit ``vector``, float32, shape ``(n,)``."""
        import torch

        query = torch.from_numpy(np.asarray(vector, dtype=np.float16))
        with torch.inference_mode():  # on every thread: a pass over the vectors is bound by memory, not compute
            return torch.mv(self.vectors, query).float().numpy()

    @classmethod
    def read(cls, store: Store, dim: int) -> Snapshot:
        """Read every event's columns, tokens and embedding, all as of one moment (one read transaction)."""
        store.conn.execute("BEGIN")
        try:
            return cls._read(store, dim)
        finally:
            store.conn.execute("COMMIT")

    @classmethod
    def _read(cls, store: Store, dim: int) -> Snapshot:
        import torch

        generation = store.generation
        rows = store.columns()
        n = len(rows)
        vectors = np.zeros((n, dim), dtype=np.float16)
        have = [i for i, row in enumerate(rows) if row[6] is not None]
        if have:
            blob = b"".join(rows[i][6] for i in have)
            vectors[have] = np.frombuffer(blob, dtype=np.float16).reshape(len(have), dim)
        columns = list(zip(*rows, strict=True)) if rows else [()] * 7
        ids = np.asarray(columns[0], dtype=np.int64)

        def column(k: int, dtype: Any) -> np.ndarray:
            return np.asarray([np.nan if v is None else v for v in columns[k]], dtype=dtype)

        return cls(
            generation=generation,
            ids=ids,
            video=np.asarray(columns[1], dtype=np.int64),
            start_s=column(2, np.float64),
            end_s=column(3, np.float64),
            threat=np.asarray(columns[4], dtype=np.int64),
            video_start=column(5, np.float64),
            vectors=torch.from_numpy(vectors),
            cameras=store.cameras(),
            lexical=LexicalIndex(store.conn, ids),
        )


def candidates(snap: Snapshot, query: Query) -> np.ndarray:
    """The positions (in ``snap``) of the events that pass the query's filters."""
    keep = np.ones(len(snap.ids), dtype=bool)
    if query.threat is not None:
        keep &= snap.threat >= query.threat
    if query.camera is not None:
        wanted = [vid for vid, cam in snap.cameras.items() if cam == query.camera]
        keep &= np.isin(snap.video, wanted)
    if query.since is not None or query.until is not None:
        known = ~np.isnan(snap.video_start)  # a video whose start is unknown cannot be placed in time
        if query.since is not None:
            keep &= np.where(known, snap.video_start + snap.end_s >= query.since, False)
        if query.until is not None:
            keep &= np.where(known, snap.video_start + snap.start_s <= query.until, False)
    return np.nonzero(keep)[0]


class Searcher:
    """Searches one index with one embedder; keeps the index's columns in memory between queries."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        """``embedder`` must be the one the index was embedded with (see ``indexer.check_embedder``)."""
        self.store = store
        self.embedder = embedder
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The index's columns, read again when the index changed since last time."""
        if self._snapshot is None or self._snapshot.generation != self.store.generation:
            self._snapshot = Snapshot.read(self.store, self.embedder.dim)
        return self._snapshot

    def search(self, query: Query) -> list[Hit]:
        """The best ``query.limit`` events for ``query``, best first."""
        snap = self.snapshot()
        chosen = candidates(snap, query)
        if chosen.size == 0 or query.limit <= 0:
            return []
        vector = self.embedder.encode([query.text])[0]
        dense = snap.similarity(vector)[chosen]
        lexical = snap.lexical.scores(query.text)[chosen]
        scores = fusion.fused_scores(dense, lexical, snap.video[chosen], snap.start_s[chosen])
        k = min(query.limit, chosen.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((snap.ids[chosen][top], -scores[top]))]
        return self._hits(snap.ids[chosen][top], scores[top])

    def _hits(self, ids: np.ndarray, scores: np.ndarray) -> list[Hit]:
        rows = self.store.event_rows([int(i) for i in ids])
        hits = []
        for event_id, score in zip(ids, scores, strict=True):
            row = rows.get(int(event_id))
            if row is not None:
                hits.append(hit_of(row, float(score)))
        return hits


def hit_of(row: dict[str, Any], score: float) -> Hit:
    """A :class:`Hit` from a row of ``Store.event_rows``."""
    start = row["start_ts"]
    when = None if start is None else datetime.fromtimestamp(start + row["start_s"]).isoformat(timespec="seconds")
    return Hit(
        video=row["video"],
        start_s=row["start_s"],
        end_s=row["end_s"],
        title=row["title"],
        description=row["description"],
        threat=row["threat"],
        score=score,
        thumbnail=row["keyframes"][0] if row["keyframes"] else None,
        camera=row["camera"],
        when=when,
        event=row["number"],
        path=str(Path(row["path"])),
    )
