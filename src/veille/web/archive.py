"""The web app's view of one output folder: its index (one shared connection, one lock), kept up to date.

Every page reads through :class:`WebArchive`; every file it serves is found from the index (a
report folder's name, an event's number and the paths the index or the report hold for them).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from veille.archive.ask import CITATION, Answer, check_citations, citation, find_cited, seconds
from veille.archive.indexer import embed_pending, sync
from veille.archive.search import Hit, Query, Searcher
from veille.archive.store import Store
from veille.web import reviews
from veille.web.details import ReportDetails, inside, read_details

log = logging.getLogger(__name__)
PAGE_SIZE = 100
#: ``(question, hits, store) -> (answer or None, model id or None, why there is no answer or None)``
Reasoner = Callable[[str, list[Hit], Store], tuple[Answer | None, str | None, str | None]]
_VIDEOS = (
    "SELECT v.id, v.folder, v.camera, v.start_ts, v.duration_s, v.complete, COUNT(e.id), MAX(e.threat),"
    " MAX(e.anomaly), COALESCE(v.start_ts, v.report_mtime_ns / 1e9) AS newest"
    " FROM videos v LEFT JOIN events e ON e.video_id = v.id GROUP BY v.id ORDER BY newest DESC, v.folder"
)
_EVENT_COLUMNS = "e.number, e.start_s, e.end_s, e.title, e.description, e.threat, e.confidence, e.anomaly, e.source"


@dataclass(slots=True)
class VideoSummary:
    """One video as the home page lists it."""

    id: int
    folder: str
    camera: str | None
    start_ts: float | None
    duration_s: float
    complete: bool
    events: int
    threat: int | None
    unusual: float | None

    @property
    def day(self) -> str:
        """The local date the video starts (empty when unknown)."""
        return "" if self.start_ts is None else datetime.fromtimestamp(self.start_ts).date().isoformat()

    @property
    def when(self) -> str:
        """The local date and time the video starts (empty when unknown)."""
        return "" if self.start_ts is None else datetime.fromtimestamp(self.start_ts).isoformat(" ", "minutes")


@dataclass(slots=True)
class AskResult:
    """What the ask page shows: the answer in parts (text, or a citation with its event), and the rest."""

    parts: list[tuple[str, tuple[str, int] | None]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    model: str | None = None
    note: str | None = None


class WebArchive:
    """An output folder's index as the pages read it, with the review marks."""

    def __init__(
        self,
        out_dir: Path,
        store: Store,
        embedder: Any = None,
        *,
        load_embedder: Callable[[], Any] | None = None,
        reasoner: Reasoner | None = None,
    ) -> None:
        """``store`` must be opened ``shared``; ``embedder`` (or ``load_embedder``, called at the first search)."""
        self.out_dir = Path(out_dir)
        self.store = store
        self.lock = threading.RLock()
        self._embedder = embedder
        self._load_embedder = load_embedder
        self.reasoner = reasoner
        self._searcher: Searcher | None = None
        self._embedded_at = -1
        self._videos: tuple[int, list[VideoSummary]] | None = None
        self._file = self._identity()
        with self.lock:
            if not reviews.has_table(self.store.conn):
                with self.store.transaction():
                    reviews.ensure_table(self.store.conn)
        self.generation = self.store.generation

    def _identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.store.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _follow_rebuild(self) -> None:
        """Open the index file again when ``veille index`` replaced it (the old one is gone with its writes)."""
        now = self._identity()
        if now is None or now == self._file:
            return
        log.info("the index was rebuilt; reading the new one")
        path = self.store.path
        self.store.close()
        self.store = Store(path, shared=True)
        self._file, self._searcher, self._embedded_at, self._videos = now, None, -1, None
        self.generation = -1

    def refresh(self) -> bool:
        """Bring the index up to date with the report folders; True when it changed since last time."""
        with self.lock:
            self._follow_rebuild()
            sync(self.store, self.out_dir, warn=log.warning)
            generation = self.store.generation
        changed, self.generation = generation != self.generation, generation
        return changed

    def videos(self) -> list[VideoSummary]:
        """Every indexed video with its counts, newest first (read again only when the index changed)."""
        with self.lock:
            generation = self.store.generation
            if self._videos is None or self._videos[0] != generation:
                rows = self.store.conn.execute(_VIDEOS).fetchall()
                self._videos = (generation, [VideoSummary(*row[:5], bool(row[5]), *row[6:9]) for row in rows])  # type: ignore[call-arg]
            return self._videos[1]

    def video(self, folder: str) -> VideoSummary | None:
        """One video by its report folder's name."""
        return next((v for v in self.videos() if v.folder == folder), None)

    def events_of(self, video: VideoSummary) -> list[dict[str, Any]]:
        """The events of ``video``, in time order, each with its review mark (or None)."""
        with self.lock:
            cur = self.store.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.video_id = ? ORDER BY e.start_s, e.number",
                (video.id,),
            )
            names = [d[0] for d in cur.description]
            events = [dict(zip(names, row, strict=True)) for row in cur]
            marks = reviews.marks_of(self.store.conn, video.folder)
        for event in events:
            event["review"] = marks.get(event["number"])
        return events

    def event(self, folder: str, number: int) -> tuple[VideoSummary, dict[str, Any]] | None:
        """One event of one video, with its review mark."""
        video = self.video(folder)
        if video is None:
            return None
        found = next((e for e in self.events_of(video) if e["number"] == number), None)
        return None if found is None else (video, found)

    def details(self, folder: str) -> ReportDetails:
        """What the report of ``folder`` says beyond the index."""
        return read_details(self.out_dir / folder)

    def set_mark(self, folder: str, number: int, mark: str, note: str) -> reviews.Review | None:
        """Mark an event (see :func:`veille.web.reviews.set_mark`); the index's generation does not change."""
        with self.lock:
            self._follow_rebuild()
            self.store.conn.execute("BEGIN IMMEDIATE")
            try:
                review = reviews.set_mark(self.store.conn, folder, number, mark, note)
            except BaseException:
                self.store.conn.execute("ROLLBACK")
                raise
            self.store.conn.execute("COMMIT")
        return review

    def review_counts(self) -> dict[str, dict[str, int]]:
        """How many events of each folder carry each mark."""
        with self.lock:
            return reviews.counts(self.store.conn)

    def marks_of_hits(self, hits: list[Hit]) -> dict[tuple[str, int], reviews.Review]:
        """The marks of the events found."""
        with self.lock:
            return reviews.marks_of_events(self.store.conn, [(h.video, h.event) for h in hits])

    # Files: each path comes from the index (or the report it names), never from the request.

    def video_file(self, folder: str) -> Path | None:
        """The analysed video of ``folder``, when it is still there."""
        with self.lock:
            row = self.store.conn.execute("SELECT path FROM videos WHERE folder = ?", (folder,)).fetchone()
        path = Path(row[0]) if row else None
        return path if path is not None and path.is_absolute() and path.is_file() else None

    def frame_file(self, folder: str, number: int, k: int) -> Path | None:
        """Keyframe ``k`` of an event (its image, inside the report folder)."""
        rows = self._event_row(folder, number)
        frames = rows["keyframes"] if rows else []
        return inside(self.out_dir / folder, frames[k].removeprefix(f"{folder}/")) if 0 <= k < len(frames) else None

    def clip_file(self, folder: str, number: int) -> Path | None:
        """The clip of an event, when the report has one (inside the report folder)."""
        if self._event_row(folder, number) is None:
            return None
        clip = self.details(folder).events.get(number, {}).get("clip")
        return inside(self.out_dir / folder, clip) if isinstance(clip, str) else None

    def _event_row(self, folder: str, number: int) -> dict[str, Any] | None:
        with self.lock:
            row = self.store.conn.execute(
                "SELECT e.id FROM events e JOIN videos v ON v.id = e.video_id WHERE v.folder = ? AND e.number = ?",
                (folder, number),
            ).fetchone()
            return None if row is None else self.store.event_rows([row[0]]).get(row[0])

    # Search and ask.

    def searcher(self) -> Searcher:
        """The search over the index as it is now: events without an embedding yet are embedded first, and the
        index's columns are in memory (the first call after a start reads them all)."""
        with self.lock:
            if self._searcher is None:
                embedder = self._embedder if self._embedder is not None else self._load()
                self._searcher = Searcher(self.store, embedder)
            if self._embedded_at != self.store.generation:
                embed_pending(self.store, self._searcher.embedder, self.out_dir)
                self._embedded_at = self.store.generation
            before = self._searcher._snapshot
            if self._searcher.snapshot() is not before:
                # The search's columns are a few hundred thousand long-lived objects: kept out of the garbage
                # collector's full passes, which otherwise take a page's time every so often (seen as p95 spikes).
                gc.freeze()
            return self._searcher

    def search(self, text: str, *, camera: str | None = None, threat: int | None = None, limit: int = 20) -> list[Hit]:
        """The archive's hybrid search."""
        with self.lock:
            return self.searcher().search(Query(text, camera=camera, threat=threat, limit=limit))

    def _load(self) -> Any:
        from veille.archive.embedder import load_embedder

        self._embedder = self._load_embedder() if self._load_embedder else load_embedder(self.store.meta("embedder"))
        return self._embedder

    def ask(self, question: str, limit: int = 8) -> AskResult:
        """The reasoner's answer with checked, clickable citations; without a reasoner, the best events cited."""
        hits = self.search(question, limit=limit)
        result = AskResult(hits=hits)
        if not hits:
            result.note = "no indexed event matches the question"
            return result
        with self.lock:
            reply, result.model, result.note = (
                self.reasoner(question, hits, self.store) if self.reasoner else (None, None, "--llm none")
            )
            if reply is None:
                reply = check_citations(" ".join(f"{citation(h)} {h.title}." for h in hits), self.store)
            result.parts, result.dropped = self._parts(reply.text), reply.dropped
        return result

    def _parts(self, text: str) -> list[tuple[str, tuple[str, int] | None]]:
        parts: list[tuple[str, tuple[str, int] | None]] = []
        last = 0
        for match in CITATION.finditer(text):
            parts.append((text[last : match.start()], None))
            hit = find_cited(self.store, match.group(1).strip(), seconds(match.group(2)))
            parts.append((match.group(0), None if hit is None else (hit.video, hit.event)))
            last = match.end()
        parts.append((text[last:], None))
        return [p for p in parts if p[0]]
