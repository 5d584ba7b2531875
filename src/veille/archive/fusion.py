"""How the two relevance signals of a search become one score.

A first, simple fusion: each signal is scaled to 0..1 over the candidates of the query, then
weighted and summed (the embedding's similarity weighs more: on surveillance descriptions it is
the better signal; full text adds exact words, plates, names, colours).
"""

from __future__ import annotations

import numpy as np

#: Weight of the embedding similarity; the full-text score gets the rest.
DENSE_WEIGHT = 0.7


def _scaled(values: np.ndarray) -> np.ndarray:
    """``values`` mapped to 0..1 (min → 0, max → 1); when they are all equal, each clipped to 0..1."""
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.clip(values, 0.0, 1.0).astype(np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def fused_scores(dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The score of each candidate event, higher better.

    Args:
        dense: cosine similarity of the query's embedding with each event's, shape ``(n,)``.
        lexical: BM25 relevance of each event (higher better; 0 where the full text did not match).
        groups: an integer id of each event's video (unused by this version).
        starts: each event's start in seconds within its video (unused by this version).
    """
    if dense.size == 0:
        return np.zeros(0, dtype=np.float32)
    lexical_part = _scaled(lexical) if np.any(lexical > 0) else np.zeros_like(dense, dtype=np.float32)
    return (DENSE_WEIGHT * _scaled(dense) + (1.0 - DENSE_WEIGHT) * lexical_part).astype(np.float32)
