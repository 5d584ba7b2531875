"""Time spent getting models (downloads, retries, a model that cannot be had) is reported apart from
the analysis time and the speed, which measure the analysis alone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_badinput import write_clip
from veille.errors import ModelError
from veille.pipeline import analyze
from veille.report.schema import Report
from veille.settings import Settings

WAIT_S = 1.5


def test_download_retries_are_not_analysis_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import veille.models.hub as hub

    def unreachable(spec: str, **kwargs: object) -> object:
        time.sleep(WAIT_S)  # what retries with backoff cost before giving up
        raise ModelError(f"{spec} cannot be reached")

    monkeypatch.setattr(hub, "ensure_model", unreachable)
    clip = write_clip(tmp_path / "cam.mp4", n=40)
    started = time.perf_counter()
    result = analyze(clip, Settings(profile="fast", out_dir=tmp_path / "out", llm="none"))
    wall = time.perf_counter() - started
    stats = result.report.stats
    assert any("motion-only" in w for w in result.report.warnings)  # it fell back, after waiting
    assert WAIT_S <= stats.download_s < WAIT_S + 1.0
    assert stats.analysis_s <= wall - WAIT_S + 0.05
    assert stats.realtime_factor == pytest.approx(result.report.video.duration_s / stats.analysis_s, rel=0.05)
    assert "model downloads" in (result.folder / "report.html").read_text()


def test_reports_without_download_time_still_load() -> None:
    video = {"path": "a.mp4", "duration_s": 1, "fps": 1, "width": 1, "height": 1, "frame_count": 1, "codec": "h264"}
    old = Report.model_validate({"video": video, "stats": {"analysis_s": 2.0}})
    assert old.stats.download_s == 0.0 and old.schema_version == 1
