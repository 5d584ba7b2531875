"""ModelManager: lazy load, release (weakref dead), fallbacks; ModelSession: when models are freed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any, get_args

import pytest

from veille.backends.runtime import RuntimeOptions
from veille.errors import ModelError, ModelNotCachedError
from veille.models.manager import ModelManager
from veille.models.session import ModelLifetime, ModelSession, lifetime_for
from veille.report.schema import ModelInfo
from veille.settings import Settings


class _Weights:
    """Stands for a model's tensors; weakly referenceable."""


class TrivialBackend:
    """A backend holding fake weights; records close()."""

    def __init__(self, role: str, path: Path, model_id: str) -> None:
        self.role, self.path = role, path
        self.weights: _Weights | None = _Weights()
        self.closed = False
        self.info = ModelInfo(id=model_id, revision=None, device="cpu", dtype="fp32", quantization=None)

    def close(self) -> None:
        self.closed = True
        self.weights = None


class Recorder:
    """Factory recording each build; ``fail`` makes it raise like a broken checkpoint."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, Path, RuntimeOptions]] = []
        self.fail = fail

    def __call__(self, role: str, path: Path, options: RuntimeOptions, **kw: Any) -> TrivialBackend:
        self.calls.append((role, path, options))
        if self.fail is not None:
            raise self.fail
        return TrivialBackend(role, path, kw["model_id"])


class Warnings:
    """A Progress recording warnings."""

    def __init__(self) -> None:
        self.warned: list[str] = []

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None: ...
    def update(self, stage: str, done: float) -> None: ...
    def finish(self, stage: str) -> None: ...
    def warn(self, message: str) -> None:
        self.warned.append(message)


def _settings(tmp_path: Path, **settings: Any) -> Settings:
    """The full profile with a folder per role."""
    folders = {role: tmp_path / role for role in ("vlm", "llm", "grounder")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    return Settings(**{"profile": "full", **{k: str(v) for k, v in folders.items()}, "device": "cpu", **settings})


def _manager(tmp_path: Path, factory: Recorder, **settings: Any) -> tuple[ModelManager, Warnings, list[str]]:
    progress, warnings = Warnings(), []
    manager = ModelManager(_settings(tmp_path, **settings), progress=progress, warnings=warnings, factory=factory)
    return manager, progress, warnings


def test_spec_follows_profile_and_overrides() -> None:
    manager = ModelManager(Settings(profile="fast"), progress=Warnings(), warnings=[])
    assert manager.spec("describer") == "smolvlm-256m" and manager.spec("reasoner") == "phi-2"
    assert manager.spec("grounder") is None
    manager = ModelManager(Settings(profile="full", llm="none", vlm="org/other"), progress=Warnings(), warnings=[])
    assert manager.spec("reasoner") is None and manager.spec("describer") == "org/other"
    assert manager.spec("grounder") == "kosmos-2"
    with pytest.raises(ModelError):
        manager.spec("painter")


def test_models_load_lazily_once(tmp_path: Path) -> None:
    factory = Recorder()
    manager, _, _ = _manager(tmp_path, factory)
    assert factory.calls == []
    first = manager.get("describer")
    assert manager.get("describer") is first
    assert [c[0] for c in factory.calls] == ["describer"]
    assert factory.calls[0][1] == tmp_path / "vlm" and factory.calls[0][2].device == "cpu"
    info = manager.info()
    assert info["describer"] is not None and info["reasoner"] is None


def test_release_and_close_free_the_model(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path, Recorder())
    backend = manager.get("grounder")
    weights = weakref.ref(backend.weights)
    model = weakref.ref(backend)
    del backend
    manager.close()
    gc.collect()
    assert model() is None and weights() is None
    assert manager.loaded() == []


def test_the_manager_frees_nothing_by_itself(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path, Recorder())
    describer = manager.get("describer")
    manager.get("grounder")
    manager.get("reasoner")
    assert not describer.closed and manager.loaded() == ["describer", "grounder", "reasoner"]


def _session(tmp_path: Path, factory: Recorder, **settings: Any) -> ModelSession:
    return ModelSession(_settings(tmp_path, **settings), factory=factory)


def test_stage_lifetime_frees_the_vision_models_before_the_reasoner_loads(tmp_path: Path) -> None:
    session = _session(tmp_path, Recorder())
    describer = session.describer()
    session.stage_done("describer")
    assert describer.closed and session.loaded() == []
    grounder = session.grounder()
    session.reasoner()  # the grounder's stage was not said to be done: the reasoner still loads alone
    assert grounder.closed and session.loaded() == ["reasoner"]
    session.video_done()
    assert session.loaded() == []


@pytest.mark.parametrize(("lifetime", "after_stage", "after_video"), [("video", 3, 0), ("batch", 3, 3)])
def test_video_and_batch_lifetimes_keep_every_model_of_the_video(
    tmp_path: Path, lifetime: str, after_stage: int, after_video: int
) -> None:
    session = _session(tmp_path, factory := Recorder(), model_lifetime=lifetime)
    describer = session.describer()
    session.stage_done("describer")
    session.grounder()
    session.stage_done("grounder")
    session.reasoner()
    assert not describer.closed and len(session.loaded()) == after_stage
    session.video_done()
    assert len(session.loaded()) == after_video
    session.describer()
    assert len(factory.calls) == (3 if lifetime == "batch" else 4)  # kept across videos, or loaded again
    with session:
        pass
    assert session.loaded() == []  # the end of the run frees everything


@pytest.mark.parametrize(
    ("settings", "lifetime"),
    [
        ({}, ModelLifetime.STAGE),
        ({"keep_models_loaded": True}, ModelLifetime.VIDEO),
        ({"cleanup_after_analysis": False}, ModelLifetime.BATCH),
        ({"cleanup_after_analysis": False, "keep_models_loaded": True}, ModelLifetime.BATCH),
        ({"model_lifetime": "stage", "keep_models_loaded": True}, ModelLifetime.STAGE),
        ({"model_lifetime": "video", "cleanup_after_analysis": False}, ModelLifetime.VIDEO),
        ({"model_lifetime": "batch"}, ModelLifetime.BATCH),
    ],
)
def test_lifetime_from_the_settings(settings: dict[str, Any], lifetime: ModelLifetime) -> None:
    assert lifetime_for(Settings(**settings)) is lifetime


def test_every_lifetime_can_be_set() -> None:
    field = Settings.model_fields["model_lifetime"].annotation
    assert set(get_args(get_args(field)[0])) == {m.value for m in ModelLifetime}


def test_missing_model_offline_warns_and_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    factory = Recorder()
    manager = ModelManager(
        Settings(profile="default"), progress=(progress := Warnings()), warnings=(warned := []), factory=factory
    )
    assert manager.get("describer") is None
    assert manager.get("describer") is None  # not retried
    assert factory.calls == []
    assert len(warned) == 1 and progress.warned == warned
    # the first failure names every missing model of the profile and the one command that fetches them
    assert "smolvlm (4.5 GB), phi-2 (5.6 GB)" in warned[0] and "`veille models download --profile default`" in warned[0]
    assert "--profile motion" in warned[0]


def test_strict_raises_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manager = ModelManager(
        Settings(profile="default", strict=True), progress=Warnings(), warnings=[], factory=Recorder()
    )
    with pytest.raises(ModelNotCachedError, match="while online"):
        manager.get("reasoner")


def test_broken_checkpoint_becomes_a_model_error(tmp_path: Path) -> None:
    manager, _progress, warned = _manager(tmp_path, Recorder(fail=OSError("no config.json")))
    assert manager.get("reasoner") is None
    assert "cannot load" in warned[0] and "no config.json" in warned[0]
