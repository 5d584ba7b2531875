"""How archive search ranks events: the query's match with each event, read in the context of its video.

An event's own similarity to the query is a noisy signal: "a man walks to the counter" may belong to a
robbery or to a normal day, and only the rest of the video tells which. So the fused score of an event
is its standardised cosine plus a *video context* term: a soft maximum (log-mean-exp) of the
standardised cosines of every event of its video, standardised across the videos. BM25 is a weak boost,
read per video too: scaled to [0, 1] by the query's best match, so that one rare shared word can never
outweigh a strong match in meaning.

Measured on UCA (``veille eval search``, README "Search relevance"), weights chosen on its training
split only, by video-level average precision (how high every video of the query's category ranks): a
stable objective, where precision@10 hangs on the one or two videos a query lands on first and tuned on
it the weights did not carry over to the validation split. Tried there and left out because they did
not help: BM25 on the event itself, the mean of the events just before and after, pseudo-relevance
feedback on the embeddings, the mean of a video's top k events instead of the log-mean-exp, correcting
the video term for the video's length, centring the embeddings on the archive's mean, capping the hits
per video, and averaging the query's embedding with rephrasings of it. Vectorised NumPy
(group sums with ``np.bincount``, no sort when the video ids are compact integers), so that fusing
costs little beside the search itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Chosen on the UCA training split only (``benchmarks/tune_search.py``): the best mean video-level average
# precision over three phrasings of the 13 queries.
VIDEO_WEIGHT = 2.0  # the video context term, in standard deviations across videos
VIDEO_TEMPERATURE = 1.0  # log-mean-exp temperature over the video's standardised cosines (0 would be the mean)
LEXICAL_VIDEO_WEIGHT = 2.0  # the video's soft maximum of the BM25 scores scaled to [0, 1]
LEXICAL_VIDEO_TEMPERATURE = 1.0


@dataclass(frozen=True, slots=True)
class FusionParams:
    """The weights of :func:`fused_scores_with` (the module constants are the defaults)."""

    video_weight: float = VIDEO_WEIGHT
    video_temperature: float = VIDEO_TEMPERATURE
    lexical_video_weight: float = LEXICAL_VIDEO_WEIGHT
    lexical_video_temperature: float = LEXICAL_VIDEO_TEMPERATURE


def fused_scores(dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The fused relevance of ``n`` candidate events (higher is better), with the default weights.

    ``dense``: cosine of the query embedding with each event's; ``lexical``: BM25 relevance, higher
    better, 0 where the full-text search did not match; ``groups``: an integer id of each event's video;
    ``starts``: each event's start in seconds (checked, not used by these weights). All of shape ``(n,)``.
    The context is computed over the candidates given: pass every event of each candidate video.
    """
    return fused_scores_with(dense, lexical, groups, starts, FusionParams())


def fused_scores_with(
    dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray, params: FusionParams
) -> np.ndarray:
    """:func:`fused_scores` with explicit weights."""
    dense, lexical = (np.asarray(a, dtype=np.float64).ravel() for a in (dense, lexical))
    groups = np.asarray(groups).ravel()
    if not dense.size == lexical.size == groups.size == np.size(starts):
        raise ValueError(
            f"fused_scores needs arrays of one length, got {dense.size}, {lexical.size}, {groups.size}, "
            f"{np.size(starts)}"
        )
    if dense.size == 0:
        return np.zeros(0)
    video = _video_ids(groups)
    count = np.bincount(video)  # 0 for ids between the videos
    meaning = _standardised(np.nan_to_num(dense))
    context = _standardised(_log_mean_exp(meaning, video, count, params.video_temperature), where=count > 0)
    per_video = params.video_weight * context
    words = np.nan_to_num(np.clip(lexical, 0.0, None))
    if params.lexical_video_weight and words.max() > 0:
        matched = np.flatnonzero(words)  # usually few: the others add exp(0) terms counted in bulk
        per_video += params.lexical_video_weight * _log_mean_exp(
            words[matched] / words.max(), video[matched], count, params.lexical_video_temperature
        )
    return meaning + per_video[video]


def _video_ids(groups: np.ndarray) -> np.ndarray:
    """Each event's video as an index from 0 (the ids themselves, shifted, when they are compact integers)."""
    if groups.dtype.kind in "iub":
        low, high = int(groups.min()), int(groups.max())
        if high - low <= 4 * groups.size + 1024:  # np.bincount over the id range: no sort needed
            return (groups - low).astype(np.intp)
    return np.unique(groups, return_inverse=True)[1].ravel().astype(np.intp)


def _standardised(x: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """``x`` minus its mean over its standard deviation, both taken ``where`` true (zeros if it does not vary)."""
    sample = x if where is None else x[where]
    spread = sample.std()
    return (x - sample.mean()) / spread if spread > 0 else np.zeros_like(x)


def _log_mean_exp(x: np.ndarray, video: np.ndarray, count: np.ndarray, temperature: float) -> np.ndarray:
    """Per video: the log-mean-exp at ``temperature`` (the mean at 0) of its values ``x`` at ``video``, and of
    zeros for the rest of its ``count`` events."""
    size = np.maximum(count, 1)
    if temperature <= 0:
        return np.bincount(video, x, count.size) / size
    top = max(float(x.max()), 0.0) if x.size else 0.0
    terms = np.exp((temperature * (x - top)).astype(np.float32))  # in (0, 1]; float32 runs SIMD, often 40x faster
    sums = np.bincount(video, terms, count.size)
    if x.size < count.sum():
        sums += (count - np.bincount(video, minlength=count.size)) * np.exp(-temperature * top)
    return top + np.log(np.maximum(sums / size, np.finfo(np.float64).tiny)) / temperature
