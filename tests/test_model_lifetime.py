"""Model lifetime with the real manager and tiny checkpoints: every load and free counted, per policy.

The backend factory is wrapped so that each load and each free is logged, in order, with the end
of each video of a batch; ``stage``, ``video`` and ``batch`` lifetimes give three different logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from veille import batch
from veille.models import manager
from veille.pipeline import analyze
from veille.settings import Settings

pytestmark = pytest.mark.slow

STAGE = ["load describer", "free describer", "load reasoner", "free reasoner", "video done"] * 2
VIDEO = ["load describer", "load reasoner", "free describer", "free reasoner", "video done"] * 2
BATCH = ["load describer", "load reasoner", "video done", "video done", "free describer", "free reasoner"]


class LoadLog:
    """The real backend factory, logging each model loaded and freed."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def factory(self, role: str, path: Path, options: Any, **kwargs: Any) -> Any:
        from veille.backends.factory import create_backend

        backend = create_backend(role, path, options, **kwargs)
        self.events.append(f"load {role}")
        close = backend.close

        def logged_close() -> None:
            self.events.append(f"free {role}")
            close()

        backend.close = logged_close
        return backend


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> LoadLog:
    log = LoadLog()
    monkeypatch.setattr(manager, "_default_factory", log.factory)
    return log


def _settings(tiny_models: dict[str, Path], out: Path, **lifetime: Any) -> Settings:
    return Settings(
        profile="fast",
        vlm=str(tiny_models["idefics3"]),
        llm=str(tiny_models["phi"]),
        device="cpu",
        load_in_8bit=False,
        dtype="fp32",
        out_dir=out,
        formats=["json"],
        resume=False,
        **lifetime,
    )


@pytest.mark.parametrize(
    ("lifetime", "expected"),
    [
        ({}, STAGE),  # the defaults: one model in memory at a time
        ({"model_lifetime": "video"}, VIDEO),
        ({"cleanup_after_analysis": False}, BATCH),  # each model loaded once, not once per video
    ],
    ids=["stage", "video", "batch"],
)
def test_two_videos_load_the_models_as_their_lifetime_says(
    sample_clip: tuple[Path, dict],
    tiny_models: dict[str, Path],
    tmp_path: Path,
    log: LoadLog,
    lifetime: dict[str, Any],
    expected: list[str],
) -> None:
    clip = sample_clip[0]
    second = tmp_path / "again.mp4"
    second.write_bytes(clip.read_bytes())
    settings = _settings(tiny_models, tmp_path / "out", **lifetime)
    result = batch.run_batch([clip, second], settings, on_done=lambda item, _: log.events.append("video done"))
    assert not result.failures and all(item.events for item in result.items)
    assert log.events == expected


def test_a_lone_analysis_frees_its_models_at_its_end(
    sample_clip: tuple[Path, dict], tiny_models: dict[str, Path], tmp_path: Path, log: LoadLog
) -> None:
    settings = _settings(tiny_models, tmp_path / "out", model_lifetime="batch").model_copy(update={"llm": "none"})
    analyze(sample_clip[0], settings)
    assert log.events == ["load describer", "free describer"]
