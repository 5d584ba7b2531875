"""The ranking of archive search: meaning first, BM25 as a weak boost, the video's context for ambiguous events."""

from __future__ import annotations

import numpy as np
import pytest

from veille.archive.fusion import LEXICAL_VIDEO_WEIGHT, FusionParams, fused_scores, fused_scores_with


def _archive(videos: int = 40, per_video: int = 8, spread: float = 0.04) -> tuple[np.ndarray, ...]:
    """Background events: cosines around 0.1, no word match, ``per_video`` events 10 s apart in each video."""
    rng = np.random.default_rng(0)
    n = videos * per_video
    dense = rng.normal(0.1, spread, n)
    lexical = np.zeros(n)
    groups = np.repeat(np.arange(videos), per_video)
    starts = np.tile(np.arange(per_video) * 10.0, videos)
    return dense, lexical, groups, starts


def test_a_strong_word_match_alone_does_not_beat_a_strong_meaning_match() -> None:
    dense, lexical, groups, starts = _archive(videos=1000, spread=0.08)
    meaning, words, plain = 8 * 0, 8 * 1, 8 * 2  # first events of videos 0, 1 and 2
    dense[meaning] = 0.55  # says what was asked in other words
    lexical[words] = 12.0  # the only event sharing a (rare) word with the query; its meaning is unrelated
    dense[words : words + 8] = dense[plain : plain + 8]  # videos 1 and 2 alike but for the word
    dense[words] = dense[plain] = 0.1
    fused = fused_scores(dense, lexical, groups, starts)
    assert fused[meaning] > fused[words]
    assert fused[words] > fused[plain]  # but the word match still counts between equals
    assert fused[words] - fused[plain] <= LEXICAL_VIDEO_WEIGHT  # and counts at most that much, however rare


def test_the_video_context_lifts_an_ambiguous_event_of_a_relevant_video() -> None:
    dense, lexical, groups, starts = _archive()
    fight = groups == 3
    dense[fight] = 0.45  # the video shows the fight throughout...
    ambiguous = np.flatnonzero(fight)[0]
    dense[ambiguous] = 0.2  # ...but this moment, read alone, could be anything ("a man walks in")
    lone = 8 * 7  # an unrelated video where one moment happens to read a bit closer to the query
    dense[lone] = 0.3
    fused = fused_scores(dense, lexical, groups, starts)
    assert fused[ambiguous] > fused[lone]
    assert set(np.argsort(-fused)[:8].tolist()) == set(np.flatnonzero(fight).tolist())  # the whole video first


def test_no_events_and_one_event() -> None:
    empty = np.zeros(0)
    assert fused_scores(empty, empty, np.zeros(0, dtype=int), empty).shape == (0,)
    one = fused_scores(np.array([0.4]), np.array([2.0]), np.array([7]), np.array([0.0]))
    assert one.shape == (1,) and np.isfinite(one).all()


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        fused_scores(np.zeros(3), np.zeros(2), np.zeros(3, dtype=int), np.zeros(3))


def test_flat_or_broken_scores_stay_finite() -> None:
    dense, lexical, groups, starts = _archive(videos=5)
    assert np.isfinite(fused_scores(np.full(dense.size, 0.3), lexical, groups, starts)).all()
    dense[10] = 0.9
    dense[3] = np.nan  # one broken score does not blind the ranking
    fused = fused_scores(dense, lexical, groups, starts)
    assert np.isfinite(fused).all() and np.argmax(fused) == 10


def test_video_ids_are_only_labels() -> None:
    """Huge, negative, gapped or scattered ids and a shuffled order give the same scores as 0..V-1 in order."""
    dense, lexical, groups, starts = _archive(videos=12)
    lexical[::5] = np.linspace(1, 9, lexical[::5].size)
    params = FusionParams(video_temperature=1.0)
    reference = fused_scores_with(dense, lexical, groups, starts, params)
    for labels in (groups * 10**12 + 7, -groups - 3, groups * 3, (groups * 7919) % 104729):
        assert np.allclose(fused_scores_with(dense, lexical, labels, starts, params), reference)
    order = np.random.default_rng(1).permutation(dense.size)
    shuffled = fused_scores_with(dense[order], lexical[order], groups[order], starts[order], params)
    assert np.allclose(shuffled, reference[order])



def test_a_long_video_is_not_diluted_by_its_ordinary_moments() -> None:
    """Three clear matches in a 40-event video beat a short video whose every moment is only a bit closer."""
    dense, lexical, groups, starts = _archive(videos=60)
    long = np.random.default_rng(2).normal(0.1, 0.04, 40)
    strong = [5, 17, 30]
    long[strong] = 0.5  # the robbery itself; the rest of the video is the shop's ordinary day
    dense, lexical = np.concatenate([dense, long]), np.concatenate([lexical, np.zeros(40)])
    groups, starts = np.concatenate([groups, np.full(40, 60)]), np.concatenate([starts, np.arange(40) * 10.0])
    dense[groups == 1] = 0.22  # a short video, each moment a little closer to the query than usual
    fused = fused_scores(dense, lexical, groups, starts)
    assert set(np.argsort(-fused)[:3].tolist()) == {60 * 8 + i for i in strong}
    assert fused[groups == 60].max() > fused[groups == 1].max()
