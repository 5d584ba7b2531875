"""Shared fixtures: a synthetic sample clip, an isolated HF cache, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scan_fixtures import built_once, clips_fixture, follow_clip_fixture  # noqa: F401 (registers them once)
from veille.sample import make_sample


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A 30-second synthetic CCTV clip and its ground truth (made once per session)."""
    folder, truth = built_once(
        tmp_path_factory, "sample", lambda folder: make_sample(folder / "sample.mp4", seconds=30)
    )
    return folder / "sample.mp4", truth


@pytest.fixture(scope="session", autouse=True)
def _onnx_graphs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder of exported embedding graphs for the session (set before any fixture loads an embedder):
    each model is exported once, not per test, and never into the user's cache."""
    folder = tmp_path_factory.mktemp("onnx-graphs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VEILLE_ONNX_CACHE_DIR", str(folder))
        patch.delenv("VEILLE_EMBED_RUNTIME", raising=False)
        yield folder


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own HF cache and no VEILLE_* / offline settings from outside."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.delenv("TRANSFORMERS_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.chdir(tmp_path)
    from veille.models.record import RUN

    RUN.clear()  # what a run learnt about unreachable models must not leak from one test to the next


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random checkpoints of Idefics3, Phi, Phi3 and Kosmos-2 (built once per session)."""
    from tests.tiny_models import tiny_models_fixture

    return tiny_models_fixture(tmp_path_factory)


@pytest.fixture(scope="session")
def catalog_repo_dirs(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Catalog repo id -> folder holding the tiny checkpoint of its architecture (plus a decoy .bin)."""
    from tests.hub_fixtures import catalog_repos

    return catalog_repos(tiny_models, tmp_path_factory.mktemp("catalog-repos"))


@pytest.fixture(scope="session")
def catalog_model_cache(catalog_repo_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF_HOME whose cache holds smolvlm, smolvlm-256m, phi-2 and kosmos-2 (downloaded once per session)."""
    from tests.fake_hub import FakeHub
    from tests.hub_fixtures import fill_cache

    home = tmp_path_factory.mktemp("hf-home-filled")
    with FakeHub(catalog_repo_dirs) as hub:
        fill_cache(hub, home, ["smolvlm", "smolvlm-256m", "phi-2", "kosmos-2"])
    return home


@pytest.fixture
def offline_models(catalog_model_cache: Path, tmp_path: Path) -> dict[str, str]:
    """Env for a subprocess (`veille analyze ... --profile full`) with this test's own filled cache, offline."""
    import shutil

    from tests.hub_fixtures import offline_env

    home = tmp_path / "hf-home-models"
    shutil.copytree(catalog_model_cache, home, symlinks=True)
    return offline_env(home)
