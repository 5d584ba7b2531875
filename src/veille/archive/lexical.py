"""Full-text relevance: SQLite FTS5's BM25, evaluated with NumPy over every event at once.

The index's ``events_fts`` table (FTS5, porter stemming) makes the tokens; each event's tokens are
also kept as term ids and counts (table ``tokens``), so a query's BM25 is computed for all events
in a few milliseconds with exactly FTS5's ``bm25()`` formula (k1 = 1.2, b = 0.75; idf
``log((N - n + 0.5) / (n + 0.5))``, at least 1e-6; one phrase per query word, joined by OR)
instead of calling ``bm25()`` once per matching row, which costs about 3 µs a row in SQLite.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Sequence

import numpy as np

K1 = 1.2
B = 0.75
TOKENIZER = "porter unicode61 remove_diacritics 2"
#: Words too common to be worth a full-text match.
STOPWORDS = frozenset(
    {
        "a", "an", "and", "any", "anyone", "anything", "are", "as", "at", "be", "by", "did", "do", "does",
        "for", "from", "has", "have", "in", "into", "is", "it", "its", "of", "on", "or", "someone",
        "something", "that", "the", "their", "there", "this", "to", "was", "were", "what", "when", "where",
        "which", "who", "with",
    }
)
_WORD = re.compile(r"[^\W_]+")


def query_words(text: str) -> list[str]:
    """The words of a query that are searched (lower case, each once, common words left out)."""
    return [w for w in dict.fromkeys(_WORD.findall(text.lower())) if w not in STOPWORDS]


def fts_match(text: str) -> str | None:
    """The FTS5 query whose ``bm25()`` :class:`LexicalIndex` reproduces (None when no word is left)."""
    return " OR ".join(f'"{w}"' for w in query_words(text)) or None


def _ensure_tokenizer(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.tok USING fts5(title, description, tokenize='{TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.tok_v USING fts5vocab(temp, tok, instance)")


def tokenize(conn: sqlite3.Connection, rows: Sequence[tuple[int, str, str]]) -> dict[int, Counter[str]]:
    """FTS5's tokens of each ``(id, title, description)``, counted (what ``events_fts`` indexes)."""
    _ensure_tokenizer(conn)
    conn.execute("DELETE FROM temp.tok")
    conn.executemany("INSERT INTO temp.tok(rowid, title, description) VALUES (?, ?, ?)", rows)
    counts: dict[int, Counter[str]] = {row[0]: Counter() for row in rows}
    for term, doc in conn.execute("SELECT term, doc FROM temp.tok_v"):
        counts[doc][term] += 1
    conn.execute("DELETE FROM temp.tok")
    return counts


def stems(conn: sqlite3.Connection, words: Sequence[str]) -> list[str]:
    """The FTS5 token of each word (one per word; a word FTS5 drops gives none)."""
    counts = tokenize(conn, [(i, "", w) for i, w in enumerate(words)])
    return [next(iter(counts[i])) for i in range(len(words)) if counts[i]]


def store_tokens(conn: sqlite3.Connection, rows: Sequence[tuple[int, str, str]]) -> None:
    """Keep the tokens of events ``(id, title, description)`` as term ids and counts (inside a transaction)."""
    counts = tokenize(conn, rows)
    terms = sorted({t for c in counts.values() for t in c})
    conn.executemany("INSERT OR IGNORE INTO terms(term) VALUES (?)", ((t,) for t in terms))
    ids = dict(conn.execute(f"SELECT term, id FROM terms WHERE term IN ({','.join('?' * len(terms))})", terms))
    for event_id, counter in counts.items():
        pairs = np.asarray([(ids[t], n) for t, n in counter.items()], dtype=np.uint32).reshape(-1, 2)
        conn.execute(
            "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (event_id, pairs.tobytes(), sum(counter.values()))
        )


class LexicalIndex:
    """Every event's term counts in memory, term by term, for BM25 over all events at once."""

    def __init__(self, conn: sqlite3.Connection, ids: np.ndarray) -> None:
        """Read the tokens of the events ``ids`` (sorted), in that order."""
        self.conn = conn
        self.n = len(ids)
        self.terms = dict(conn.execute("SELECT term, id FROM terms"))
        rows = conn.execute("SELECT event_id, length(terms) / 8, terms, length FROM tokens ORDER BY event_id")
        event_ids, sizes, blobs, lengths = zip(*rows, strict=True) if self.n else ((), (), (), ())
        where = np.searchsorted(ids, np.asarray(event_ids, dtype=np.int64))
        self.lengths = np.zeros(self.n, dtype=np.float32)
        self.lengths[where] = lengths
        pairs = np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(-1, 2)
        docs = np.repeat(where, np.asarray(sizes, dtype=np.int64))
        order = np.argsort(pairs[:, 0], kind="stable")
        self.docs = docs[order].astype(np.int32)
        self.tf = pairs[order, 1].astype(np.float32)
        bounds = np.bincount(pairs[:, 0], minlength=max(self.terms.values(), default=0) + 1)
        self.starts = np.concatenate([[0], np.cumsum(bounds)])
        self.avgdl = float(self.lengths.sum() / self.n) if self.n else 0.0

    def scores(self, text: str) -> np.ndarray:
        """BM25 of every event for the query ``text`` (FTS5's ``bm25()`` of :func:`fts_match`, negated)."""
        out = np.zeros(self.n, dtype=np.float32)
        words = query_words(text)
        if not words or self.n == 0:
            return out
        norm = K1 * (1 - B + B * self.lengths / self.avgdl)
        for term in stems(self.conn, words):
            term_id = self.terms.get(term)
            if term_id is None or term_id + 1 >= len(self.starts):
                continue
            lo, hi = self.starts[term_id], self.starts[term_id + 1]
            docs, tf = self.docs[lo:hi], self.tf[lo:hi]
            idf = max(float(np.log((self.n - len(docs) + 0.5) / (len(docs) + 0.5))), 1e-6)
            out[docs] += idf * tf * (K1 + 1) / (tf + norm[docs])
        return out
