"""The anomaly statistics on synthetic clips with known lanes, sizes and speeds.

The usual traffic: small boxes along the top lane (far away), big boxes along the bottom lane (near),
both at 1.5 px a frame; nothing ever moves in the strip between them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.anomaly_clips import BOTTOM, MIDDLE, TOP, Mover, usual, write_clip
from veille.anomaly.evaluate import calibrate_on, roc_auc
from veille.anomaly.frames import merge_spans
from veille.anomaly.model import LEVELS, hist_positions
from veille.anomaly.profile import bin_index, bin_value
from veille.anomaly.reasons import explain
from veille.anomaly.score import AnomalyCurve, score_video
from veille.video.probe import probe

OTHERS = [Mover(BOTTOM, 24, 30, 1.5, 100, 12)]  # the usual near traffic, in every test clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("anomaly-clips")
    specs = {
        "usual": [Mover(TOP, 8, 10, 1.5, 30, 11), *OTHERS],
        "fast_top": [Mover(TOP, 8, 10, 3.0, 30, 11), *OTHERS],
        "big_top": [Mover(TOP, 24, 30, 1.5, 30, 13), *OTHERS],
        "big_bottom": [Mover(BOTTOM, 24, 30, 1.5, 30, 13)],
        "middle": [Mover(MIDDLE, 8, 10, 1.5, 30, 14), *OTHERS],
    }
    out = {name: write_clip(folder / f"{name}.mp4", movers, 12, seed=5) for name, movers in specs.items()}
    out["calibration"] = write_clip(folder / "calibration.mp4", usual(), 60)
    out["calibration_fast"] = write_clip(folder / "calibration_fast.mp4", [*usual(3.0)[:2], *usual()[2:]], 60)
    return out


@pytest.fixture(scope="module")
def profile(clips):
    return calibrate_on("street", [clips["calibration"]]).profile


def _curve(clips, name: str, profile) -> AnomalyCurve:
    return score_video(probe(clips[name]), profile)


def test_fast_object_among_slow_ones_scores_higher(clips, profile) -> None:
    usual_curve, fast = _curve(clips, "usual", profile), _curve(clips, "fast_top", profile)
    threshold = profile.meta.normal_scores["p99"]
    assert max(usual_curve.scores) < threshold + 0.3
    assert max(fast.scores) > threshold + 0.8
    assert max(fast.scores) > max(usual_curve.scores) + 0.8
    verdict = explain(fast, 0.0, 12.0)
    assert verdict.unusual and "faster than usual here" in verdict.reason
    assert "top" in verdict.reason


def test_fast_object_is_normal_where_fast_things_are_usual(clips, profile) -> None:
    """Calibrated on footage where the far lane's boxes go that fast, the same clip is not unusual."""
    used_to_fast = calibrate_on("street-fast", [clips["calibration_fast"]]).profile
    fast = _curve(clips, "fast_top", used_to_fast)
    assert max(fast.scores) < used_to_fast.meta.normal_scores["p99"] + 0.3
    assert max(fast.scores) < max(_curve(clips, "fast_top", profile).scores) - 0.8


def test_big_object_is_unusual_only_where_things_are_small(clips, profile) -> None:
    """Perspective: a box the size of the near traffic is unusual in the far lane, usual in the near one."""
    threshold = profile.meta.normal_scores["p99"]
    far, near = _curve(clips, "big_top", profile), _curve(clips, "big_bottom", profile)
    assert max(near.scores) < threshold + 0.3
    assert max(far.scores) > threshold + 0.8
    verdict = explain(far, 0.0, 12.0)
    assert "larger than usual here" in verdict.reason
    assert not explain(near, 0.0, 12.0).unusual


def test_movement_where_nothing_moves(clips, profile) -> None:
    middle, plain = _curve(clips, "middle", profile), _curve(clips, "usual", profile)
    assert max(middle.scores) > profile.meta.normal_scores["p99"]
    assert max(middle.scores) > max(plain.scores) + 0.2
    assert "where nothing usually moves" in explain(middle, 0.0, 12.0).reason
    assert "où rien ne bouge" in explain(middle, 0.0, 12.0, lang="fr").reason


def test_curve_is_causal_and_only_covers_the_spans(clips, profile) -> None:
    """A point never depends on later frames; outside the spans only a 0 point marks the quiet."""
    info = probe(clips["fast_top"])
    whole = score_video(info, profile)
    first = score_video(info, profile, [(0.0, 6.0)])
    n = sum(t < 6.0 for t in first.times)
    assert first.times[:n] == whole.times[:n] and first.scores[:n] == whole.scores[:n]
    assert first.scores[-1] == 0.0 and first.times[-1] == pytest.approx(6.0)
    assert all(a < b for a, b in zip(whole.times, whole.times[1:], strict=False))
    assert min(whole.scores) >= 0.0


def test_histogram_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(3)
    values = 10 ** rng.normal(-2, 0.4, 5000)
    hist = np.bincount(bin_index("energy", values), minlength=60).astype(float)
    got = bin_value("energy", hist_positions(hist, LEVELS))
    want = np.quantile(values, LEVELS)
    assert np.allclose(np.log10(got), np.log10(want), atol=0.05)


def test_roc_auc_and_spans() -> None:
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))
    assert merge_spans([(5.0, 6.0), (0.0, 1.0), (1.5, 2.0)], 1.0) == [(0.0, 2.0), (5.0, 6.0)]
