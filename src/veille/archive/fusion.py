"""How archive search ranks events: the query's match with each event, read in the context of its video.

An event's own similarity to the query is a noisy signal: a sentence such as "a man walks to the
counter" may belong to a robbery or to a normal day. What the rest of the video says decides it, so the
fused score adds to each event's standardised cosine a *video context* term: a soft maximum (log-mean-exp)
of the cosines of every event of the same video, standardised across videos. The lexical (BM25) score
is a weak boost: scaled to [0, 1] by the best match of the query, so one rare word can never outweigh a
strong meaning match, and also read per video. Optionally each event also takes the mean of its
neighbours in time.

The weights were chosen on the UCA training split only (``veille eval search``); see the README.
Everything is vectorised NumPy (group sums with ``np.bincount``): a few milliseconds at 100,000 events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Chosen on the UCA training split (see the module docstring and the README "Search relevance").
VIDEO_WEIGHT = 8.0  # weight of the video context term, in standard deviations of the per-video scores
VIDEO_TEMPERATURE = 0.5  # log-mean-exp temperature over the video's standardised cosines (0 = mean)
LEXICAL_WEIGHT = 0.0  # weight of the event's own BM25 score, scaled to [0, 1]
LEXICAL_VIDEO_WEIGHT = 2.0  # weight of the video's soft-maximum BM25 score (in [0, 1])
LEXICAL_VIDEO_TEMPERATURE = 2.0  # log-mean-exp temperature of the BM25 scores (in [0, 1]) over a video
NEIGHBOUR_WEIGHT = 0.0  # weight of the mean standardised cosine of the events just before and after

FTS_TOKENIZE = "porter unicode61"  # the FTS5 tokenizer the lexical scores were tuned with ("fighting" = "fight")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class FusionParams:
    """The weights of :func:`fused_scores_with` (the module constants are the defaults)."""

    video_weight: float = VIDEO_WEIGHT
    video_temperature: float = VIDEO_TEMPERATURE
    lexical_weight: float = LEXICAL_WEIGHT
    lexical_video_weight: float = LEXICAL_VIDEO_WEIGHT
    lexical_video_temperature: float = LEXICAL_VIDEO_TEMPERATURE
    neighbour_weight: float = NEIGHBOUR_WEIGHT


def fts_query(text: str) -> str:
    """The FTS5 MATCH expression of a plain-language query: any of its words, each quoted ("" when none)."""
    return " OR ".join(f'"{word}"' for word in _WORD.findall(text.lower()))


def fused_scores(dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The fused relevance of ``n`` candidate events (higher is better), with the default weights.

    ``dense``: cosine of the query embedding with each event's; ``lexical``: BM25 relevance, higher
    better, 0 where the full-text search did not match; ``groups``: an integer id of each event's video;
    ``starts``: each event's start in seconds. All of shape ``(n,)``. The video context is computed over
    the candidates given, so pass every event of each candidate video.
    """
    return fused_scores_with(dense, lexical, groups, starts, FusionParams())


def fused_scores_with(
    dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray, params: FusionParams
) -> np.ndarray:
    """:func:`fused_scores` with explicit weights."""
    dense, lexical, starts = (np.asarray(a, dtype=np.float64).ravel() for a in (dense, lexical, starts))
    groups = np.asarray(groups).ravel()
    n = dense.size
    if not lexical.size == groups.size == starts.size == n:
        raise ValueError(f"fused_scores needs arrays of one length, got {dense.size}, {lexical.size}, "
                         f"{groups.size}, {starts.size}")
    if n == 0:
        return np.zeros(0)
    video = _video_ids(groups)
    meaning = _standardised(np.nan_to_num(dense))
    words = np.nan_to_num(np.clip(lexical, 0.0, None))
    best = words.max()
    words = words / best if best > 0 else words
    score = meaning + params.video_weight * _standardised_per_video(_video_softmax(meaning, video,
                                                                                   params.video_temperature), video)
    if params.lexical_weight:
        score += params.lexical_weight * words
    if params.lexical_video_weight:
        score += params.lexical_video_weight * _video_softmax(words, video, params.lexical_video_temperature)
    if params.neighbour_weight:
        score += params.neighbour_weight * _neighbour_mean(meaning, video, starts)
    return score


def _video_ids(groups: np.ndarray) -> np.ndarray:
    """Each event's video as an index from 0 (the ids themselves, shifted, when they are compact integers)."""
    if groups.dtype.kind in "iub":
        low, high = int(groups.min()), int(groups.max())
        if high - low <= 4 * groups.size + 1024:  # bincount over the id range: no sort needed
            return (groups - low).astype(np.intp)
    return np.unique(groups, return_inverse=True)[1].ravel().astype(np.intp)


def _standardised(x: np.ndarray) -> np.ndarray:
    """``x`` minus its mean over its standard deviation (all zeros when it does not vary)."""
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def _video_softmax(x: np.ndarray, video: np.ndarray, temperature: float) -> np.ndarray:
    """Per event: the log-mean-exp of ``x`` over its video (the mean when ``temperature`` is 0)."""
    count = np.maximum(np.bincount(video), 1)  # ids between videos hold no event
    if temperature <= 0:
        return (np.bincount(video, x) / count)[video]
    top = x.max()
    sums = np.bincount(video, np.exp(temperature * (x - top))) / count
    return (top + np.log(np.maximum(sums, np.finfo(np.float64).tiny)) / temperature)[video]


def _standardised_per_video(per_event: np.ndarray, video: np.ndarray) -> np.ndarray:
    """A per-video value (repeated on each of its events) standardised across videos, not events."""
    values = np.zeros(video.max() + 1)
    values[video] = per_event
    values = values[np.bincount(video) > 0]  # ids not used by any event are no video
    spread = values.std()
    return (per_event - values.mean()) / spread if spread > 0 else np.zeros_like(per_event)


def _neighbour_mean(x: np.ndarray, video: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per event: the mean of ``x`` over the events just before and after it in the same video (itself at an end)."""
    order = np.lexsort((starts, video))
    ordered, owner = x[order], video[order]
    same = owner[1:] == owner[:-1]
    before = np.concatenate(([ordered[0]], np.where(same, ordered[:-1], ordered[1:])))
    after = np.concatenate((np.where(same, ordered[1:], ordered[:-1]), [ordered[-1]]))
    out = np.empty_like(x)
    out[order] = (before + after) / 2
    return out
