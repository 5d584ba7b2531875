"""cleanup_after_analysis: models are freed after each analysis, or kept across a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from veille import batch
from veille.pipeline import analyze
from veille.settings import Settings


class CountingManager:
    """Stands in for ModelManager: no model can be had; counts closes and rebinds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.closed = 0
        self.rebound = 0

    def rebind(self, **kwargs: Any) -> None:
        self.rebound += 1

    def spec(self, role: str) -> str | None:
        return None

    def get(self, role: str) -> None:
        return None

    def release(self, role: str) -> None:
        return None

    def close(self) -> None:
        self.closed += 1

    def info(self) -> dict:
        return {}


@pytest.mark.parametrize(("cleanup", "closes"), [(True, 1), (False, 0)])
def test_shared_manager_closed_only_with_cleanup(sample_clip, tmp_path: Path, cleanup: bool, closes: int) -> None:
    manager = CountingManager()
    settings = Settings(profile="fast", cleanup_after_analysis=cleanup, out_dir=tmp_path / "out")
    result = analyze(sample_clip[0], settings, models=manager)  # type: ignore[arg-type]
    assert manager.rebound == 1 and manager.closed == closes
    assert all(e.source == "motion" for e in result.report.events)


def test_batch_keeps_one_manager_when_cleanup_is_off(
    sample_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[CountingManager] = []

    def make(settings: Settings) -> CountingManager:
        made.append(CountingManager())
        return made[-1]

    monkeypatch.setattr(batch, "_shared_models", make)
    second = tmp_path / "again.mp4"
    second.write_bytes(sample_clip[0].read_bytes())
    settings = Settings(profile="fast", cleanup_after_analysis=False, out_dir=tmp_path / "out")
    result = batch.run_batch([sample_clip[0], second], settings)
    assert not result.failures
    assert len(made) == 1 and made[0].rebound == 2 and made[0].closed == 1  # closed once, after the batch
