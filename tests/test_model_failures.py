"""A model that fails while it runs does not fail the video: the analysis falls back, with a warning.

The whole ``analyze()`` pipeline on the sample clip, with the real tiny checkpoints loaded by the
real model manager; the models named in each test are made to fail as they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.model_faults import break_model
from veille.i18n import count
from veille.models import manager
from veille.pipeline import analyze
from veille.settings import Settings

pytestmark = pytest.mark.slow


def _break(monkeypatch: pytest.MonkeyPatch, faults: dict[str, str]) -> None:
    """Every backend the manager builds for a role in ``faults`` fails that way."""
    from veille.backends.factory import create_backend

    def factory(role: str, path: Path, options: Any, **kwargs: Any) -> Any:
        backend = create_backend(role, path, options, **kwargs)
        if role in faults:
            break_model(backend, faults[role])
        return backend

    monkeypatch.setattr(manager, "_default_factory", factory)


def _settings(tiny_models: dict[str, Path], out: Path, *, grounder: bool) -> Settings:
    return Settings(
        profile="full",
        vlm=str(tiny_models["idefics3"]),
        llm=str(tiny_models["phi"]),
        grounder=str(tiny_models["kosmos2"]) if grounder else "none",
        device="cpu",
        load_in_8bit=False,
        dtype="fp32",
        out_dir=out,
        formats=["json"],
        resume=False,
    )


def test_a_describer_out_of_memory_gives_motion_events_and_a_warning(
    sample_clip: tuple[Path, dict], tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(monkeypatch, {"describer": "oom"})
    result = analyze(sample_clip[0], _settings(tiny_models, tmp_path / "out", grounder=False))
    report = result.report
    assert (result.folder / "report.json").is_file() and report.complete
    assert report.events and all(e.source == "motion" for e in report.events)
    failed = [w for w in report.warnings if w.startswith("describer failed")]
    assert failed and all("OutOfMemoryError: CUDA out of memory" in w for w in failed)
    assert report.stats.vlm_calls >= 1 and str(tiny_models["idefics3"]) in failed[0]


def test_failing_reasoner_and_grounder_leave_described_events_unjudged_and_unboxed(
    sample_clip: tuple[Path, dict], tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(monkeypatch, {"reasoner": "shape", "grounder": "nan"})
    report = analyze(sample_clip[0], _settings(tiny_models, tmp_path / "out", grounder=True)).report
    assert report.complete and any(e.source == "vlm" for e in report.events)  # the describer's text stays
    assert any(w.startswith("reasoner failed") and "RuntimeError: mat1 and mat2" in w for w in report.warnings)
    assert any("grounding failed" in w and "FloatingPointError" in w for w in report.warnings)
    assert {b.label for e in report.events for k in e.keyframes for b in k.boxes} <= {"motion"}
    assert report.summary.startswith(count(len(report.events), "event") + " in")  # the summary without the reasoner
