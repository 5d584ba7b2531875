"""The shortcuts that make scoring fast give the same answers as the long way round."""

from __future__ import annotations

import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from veille.anomaly import frames
from veille.anomaly.features import CELL, FrameObs, MotionFeatures, blob_sizes
from veille.anomaly.model import _STEPS, ALPHA, TOP, NormalModel, _bends, _tail, spaced


def _blobby_mask(seed: int) -> np.ndarray:
    """A 96x128 moving mask with blobs of every size, some crossing many windows."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((96, 128), np.uint8)
    for _ in range(12):
        h, w = rng.integers(1, 40, 2)
        y, x = rng.integers(0, 96 - h), rng.integers(0, 128 - w)
        mask[y : y + h, x : x + w] = 1
    return mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_windows_blob_size_matches_the_whole_grid(seed: int) -> None:
    moving = _blobby_mask(seed)
    grid = blob_sizes(moving)
    obs = FrameObs(0.0, grid, grid, grid, None, moving)
    got = np.array([[obs.size_at(r, c) for c in range(grid.shape[1])] for r in range(grid.shape[0])])
    assert grid.max() > 4 * (2 * CELL) ** 2 / moving.size  # some blobs reach far beyond one window
    assert np.allclose(got, grid, atol=1e-7)


def test_tail_passes_through_each_quantile_and_rises_alpha_per_decade_beyond() -> None:
    q = spaced(np.array([[-2.0, 0.0], [-1.5, 0.1], [-1.4, 0.1], [-1.0, 0.5], [-0.5, 0.7]]))  # one tie
    assert q[2, 1] > q[1, 1]
    bends = _bends(q)
    for i in range(len(q)):
        assert np.allclose(_tail(q[i], q, bends), _STEPS[i], atol=1e-6)
    assert np.allclose(_tail(q[0] - 1.0, q, bends), 0.0)
    assert np.allclose(_tail(q[0] - 0.5, q, bends), _STEPS[0] / 2)
    assert np.allclose(_tail(q[-1] + 2.0, q, bends), _STEPS[-1] + 2 * ALPHA)
    middle = (q[1] + q[3]) / 2  # between two quantiles: on the straight line through them
    assert _STEPS[1] < _tail(middle, q, bends)[0] < _STEPS[3]
    rising = np.array([_tail(np.array([v, v]), q, bends) for v in np.linspace(-4.0, 2.0, 400)])
    assert (np.diff(rising, axis=0) >= -1e-9).all()


def test_frame_score_is_the_mean_of_the_top_moving_windows() -> None:
    model = NormalModel.__new__(NormalModel)
    model.log_q = np.log10(np.array([1.0, 2.0, 4.0, 8.0, 16.0]))[:, None, None] * np.ones((1, 2, 3))
    model._bends = _bends(model.log_q)
    model.rarity = np.zeros((2, 3))
    energy = np.array([[1.0, 16.0, 160.0], [0.01, 1.0, 1.0]])
    active = np.array([[True, True, False], [True, False, False]])  # the highest energy is still
    score, best = model.frame_score(energy, active)
    assert best == 1  # the most unusual window that moves
    assert score == pytest.approx((_STEPS[0] + _STEPS[-1] + 0.0) / TOP)
    assert model.frame_score(energy, np.zeros_like(active)) == (0.0, -1)


class _NoFlow:
    def calc(self, *args):
        raise AssertionError("optical flow computed on frames where nothing changed")


def test_frames_where_nothing_changed_skip_the_flow() -> None:
    rng = np.random.default_rng(4)
    image = cv2.resize(rng.integers(0, 255, (12, 16), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_NEAREST)
    features = MotionFeatures((64, 48), sizes=True)
    features._flow = _NoFlow()
    assert features.update(image, 0.0) is None
    noisy = cv2.add(image, np.full_like(image, 3))  # a little sensor noise, under the change level
    obs = features.update(noisy, 0.2)
    assert obs is not None and obs.share.shape == (5, 7)
    assert not obs.share.any() and not obs.energy.any() and not obs.moving.any() and not obs.sizes().any()
    moved = np.roll(noisy, 6, axis=1)
    with pytest.raises(AssertionError, match="optical flow"):
        features.update(moved, 0.4)


@pytest.mark.parametrize(("cpus", "codec", "one_thread"), [(2, "h264", True), (8, "h264", False), (2, "mjpeg", False)])
def test_decoder_uses_its_own_threads_only_where_they_pay(monkeypatch, cpus: int, codec: str, one_thread: bool) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cpus)), raising=False)
    monkeypatch.delenv("VEILLE_CPUS", raising=False)
    stream = SimpleNamespace(thread_type="SLICE", codec_context=SimpleNamespace(thread_count=0))
    frames._decoder_threads(stream, codec)
    assert (stream.codec_context.thread_count == 1) is one_thread
    assert stream.thread_type == ("SLICE" if one_thread else "AUTO")
