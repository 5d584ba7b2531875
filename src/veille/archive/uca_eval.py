"""``veille eval search``: how well archive search ranks events, measured on UCA.

UCA (UCF-Crime Annotation) holds human-written, timestamped sentences describing real surveillance
videos: ``{video_id: {"duration", "timestamps": [[s, e], ...], "sentences": [...]}}``. Each sentence
becomes an event of its video; a video's category is its id's leading letters (``Fighting012_x264`` →
``Fighting``). Each query names a category; a hit is relevant when its video belongs to it. The
measure is precision@10 per query and its mean, for four rankings: the cosine of the embeddings alone
(``dense``), SQLite FTS5 BM25 alone (``bm25``), a naive reciprocal-rank fusion of the two (``rrf``)
and the ranking archive search uses (``fused``, :mod:`veille.archive.fusion`).

Embedding thousands of sentences takes minutes on a CPU, so the event embeddings are kept in a cache
file named after the UCA file's content and the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from veille.archive.fusion import fused_scores
from veille.archive.lexical import TOKENIZER, fts_match
from veille.errors import InputNotFoundError, UsageError

Encode = Callable[[Sequence[str]], np.ndarray]
QUERIES_FILE = Path(__file__).with_name("data") / "uca_queries.json"
K = 10
METHODS = ("dense", "bm25", "rrf", "fused")
RRF_K = 60  # the usual constant of reciprocal-rank fusion
PACKAGED_MINILM = "sentence-transformers/all-MiniLM-L6-v2"
_CATEGORY = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class UcaEvents:
    """Every sentence of a UCA file as an event: its text, video (index and category) and start."""

    texts: list[str]
    groups: np.ndarray  # index of the event's video
    starts: np.ndarray  # seconds
    categories: np.ndarray  # the category of the event's video
    videos: int


@dataclass(frozen=True, slots=True)
class Query:
    """A plain-language query and the category whose videos answer it."""

    text: str
    category: str


@dataclass(frozen=True, slots=True)
class SearchEval:
    """Precision@K per query for each method."""

    dataset: str
    videos: int
    events: int
    model: str
    queries: list[Query]
    precision: dict[str, list[float]]  # method -> one value per query

    def mean(self, method: str) -> float:
        """Mean precision@K of ``method`` over the queries."""
        return float(np.mean(self.precision[method]))


def category_of(video_id: str) -> str:
    """The UCF-Crime category of a video id: its leading letters (``Normal_Videos_015_x264`` → ``Normal``)."""
    found = _CATEGORY.match(video_id)
    return found.group(0) if found else ""


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputNotFoundError(f"{path} does not exist; give {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not JSON ({exc}); give {what}") from None


def load_uca(path: Path) -> UcaEvents:
    """The events of a UCA annotation file (``UCFCrime_Train.json``, ``UCFCrime_Val.json``)."""
    path = Path(path)
    what = "a UCA annotation file such as UCFCrime_Val.json"
    data = _read_json(path, what)
    if not isinstance(data, dict) or not data:
        raise UsageError(f"{path} holds no videos; {what} maps video ids to timestamps and sentences")
    texts: list[str] = []
    groups: list[int] = []
    starts: list[float] = []
    categories: list[str] = []
    for index, (video, entry) in enumerate(data.items()):
        sentences = entry.get("sentences") if isinstance(entry, dict) else None
        times = entry.get("timestamps") if isinstance(entry, dict) else None
        if not isinstance(sentences, list) or not isinstance(times, list) or len(sentences) != len(times):
            raise UsageError(f"{path}: video '{video}' needs as many 'timestamps' as 'sentences'; {what}")
        for sentence, span in zip(sentences, times, strict=True):
            if not (isinstance(sentence, str) and isinstance(span, list) and span and _is_number(span[0])):
                raise UsageError(f"{path}: video '{video}' has a sentence or timestamp of the wrong type; {what}")
            texts.append(sentence)
            groups.append(index)
            starts.append(float(span[0]))
            categories.append(category_of(video))
    if not texts:
        raise UsageError(f"{path} holds no sentences; {what}")
    return UcaEvents(texts, np.array(groups), np.array(starts), np.array(categories), len(data))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def load_queries(path: Path | None = None) -> list[Query]:
    """The queries of a JSON file: a list of ``{"query": ..., "category": ...}`` (default: the built-in 13)."""
    path = Path(path) if path is not None else QUERIES_FILE
    what = 'a JSON list of {"query": "...", "category": "..."}'
    data = _read_json(path, what)
    if not isinstance(data, list) or not data:
        raise UsageError(f"{path} holds no queries; give {what}")
    queries = []
    for item in data:
        text = item.get("query") if isinstance(item, dict) else None
        category = item.get("category") if isinstance(item, dict) else None
        if not (isinstance(text, str) and text.strip() and isinstance(category, str) and category.strip()):
            raise UsageError(f"{path}: {json.dumps(item)[:80]} is not a query; give {what}")
        queries.append(Query(text.strip(), category.strip()))
    return queries


def lexical_scores(texts: Sequence[str], queries: Sequence[str]) -> np.ndarray:
    """BM25 relevance (minus FTS5's ``bm25()``, 0 where nothing matched) of each text for each query: (n, q).

    The same words, tokens and formula as archive search's full text (:mod:`veille.archive.lexical`).
    """
    scores = np.zeros((len(texts), len(queries)))
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute(f"CREATE VIRTUAL TABLE events USING fts5(text, tokenize='{TOKENIZER}')")
        db.executemany("INSERT INTO events(rowid, text) VALUES (?, ?)", enumerate(texts))
        for column, query in enumerate(queries):
            expression = fts_match(query)
            if expression is None:
                continue
            for row, bm25 in db.execute("SELECT rowid, bm25(events) FROM events WHERE events MATCH ?", (expression,)):
                scores[row, column] = -bm25
    return scores


def default_cache_dir() -> Path:
    """Where event embeddings are cached: ``$XDG_CACHE_HOME/veille/eval`` (``~/.cache/veille/eval``)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "veille" / "eval"


def embed_events(texts: list[str], encode: Encode, model: str, source: bytes, cache_dir: Path | None) -> np.ndarray:
    """The embeddings of ``texts``, from the cache when this file and model were embedded before."""
    key = hashlib.sha256(source + b"\0" + model.encode() + b"\0" + str(len(texts)).encode()).hexdigest()[:24]
    cached = (cache_dir or default_cache_dir()) / f"uca-{key}.npy"
    try:
        vectors = np.load(cached)
        if vectors.ndim == 2 and vectors.shape[0] == len(texts):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = np.asarray(encode(texts), dtype=np.float32)
    partial: Path | None = None
    try:  # a temporary file renamed into place: never half a cache
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, prefix=".uca-", suffix=".npy", delete=False) as out:
            partial = Path(out.name)
            np.save(out, vectors)
        os.replace(partial, cached)
    except OSError:  # no cache this time; the figures are the same
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.unlink()
    return vectors


def method_scores(method: str, dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray
                  ) -> np.ndarray:  # fmt: skip
    """The ranking score of every event for one query under ``method`` (one of :data:`METHODS`)."""
    if method == "dense":
        return dense
    if method == "bm25":
        return lexical
    if method == "rrf":
        return 1.0 / (RRF_K + _ranks(dense)) + np.where(lexical > 0, 1.0 / (RRF_K + _ranks(lexical)), 0.0)
    if method == "fused":
        return fused_scores(dense, lexical, groups, starts)
    raise ValueError(f"unknown method {method!r}")


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1 for the best score, 2 for the next… (ties in the order given)."""
    ranks = np.empty(scores.size)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, scores.size + 1)
    return ranks


def precision_at(scores: np.ndarray, relevant: np.ndarray, k: int = K) -> float:
    """The share of relevant events among the ``k`` best scores (ties in the order given)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(relevant[top].mean()) if top.size else 0.0


@dataclass(frozen=True, slots=True)
class QueryScores:
    """Every event's cosine and BM25 score for every query: ``(events, queries)`` arrays."""

    events: UcaEvents
    queries: list[Query]
    dense: np.ndarray
    lexical: np.ndarray
    model: str


def query_scores(uca: Path, queries: Path | None = None, *, encode: Encode | None = None, model: str | None = None,
                 cache_dir: Path | None = None) -> QueryScores:  # fmt: skip
    """Read and check both files, then score every event of ``uca`` for every query.

    ``encode`` maps texts to L2-normalised embeddings (default: :func:`default_encode`) and ``model``
    names it (it keys the embedding cache).
    """
    uca = Path(uca)
    events = load_uca(uca)
    asked = load_queries(queries)
    present = set(events.categories.tolist())
    for query in asked:
        if query.category not in present:
            raise UsageError(f"no video of category '{query.category}' in {uca} (query '{query.text}'); "
                             f"its categories: {', '.join(sorted(present))}")  # fmt: skip
    if encode is None:
        encode, model = default_encode()
    model = model or "unnamed"
    vectors = embed_events(events.texts, encode, model, uca.read_bytes(), cache_dir)
    texts = [q.text for q in asked]
    dense = vectors @ np.asarray(encode(texts), dtype=np.float32).T
    return QueryScores(events, asked, dense, lexical_scores(events.texts, texts), model)


def evaluate_search(uca: Path, queries: Path | None = None, *, encode: Encode | None = None,
                    model: str | None = None, cache_dir: Path | None = None) -> SearchEval:  # fmt: skip
    """Precision@10 of each method on the UCA file ``uca`` for the ``queries`` file (default: the built-in 13)."""
    scored = query_scores(uca, queries, encode=encode, model=model, cache_dir=cache_dir)
    events = scored.events
    precision: dict[str, list[float]] = {method: [] for method in METHODS}
    for column, query in enumerate(scored.queries):
        relevant = events.categories == query.category
        for method in METHODS:
            scores = method_scores(method, scored.dense[:, column], scored.lexical[:, column], events.groups,
                                   events.starts)  # fmt: skip
            precision[method].append(precision_at(scores, relevant))
    return SearchEval(Path(uca).name, events.videos, len(events.texts), scored.model, scored.queries, precision)


def default_encode() -> tuple[Encode, str]:
    """The default embedder of archive search (the packaged all-MiniLM-L6-v2) and its name."""
    from veille.archive.embedder import load_embedder

    embedder = load_embedder()
    return embedder.encode, embedder.name
