"""The anomaly score on real footage (skipped unless VEILLE_DATA_DIR names the data folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veille.anomaly.evaluate import evaluate_dataset, quiet_check


def _data_dir() -> Path | None:
    value = os.environ.get("VEILLE_DATA_DIR")
    return Path(value) if value and Path(value).is_dir() else None


pytestmark = [
    pytest.mark.data,
    pytest.mark.slow,
    pytest.mark.skipif(_data_dir() is None, reason="real footage: set VEILLE_DATA_DIR to the data folder"),
]


def test_ucsd_ped2_pooled_auc_meets_the_target() -> None:
    result = evaluate_dataset(_data_dir() / "ucsd_ped2")
    assert result.frames == 1020 and result.anomalous == 790
    assert result.pooled_auc >= 0.95


def test_a_calibrated_highway_flags_nothing_much_on_more_highway() -> None:
    check = quiet_check(_data_dir() / "cdnet_highway" / "highway_0001-0850.mp4")
    assert check.calibration_s > 15 and check.scored_s > 10
    assert check.flagged_share <= 0.02
