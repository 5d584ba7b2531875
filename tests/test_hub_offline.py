"""Offline means no socket at all; the retry loop is bounded and only retries transient failures."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import httpx2
import pytest

from veille.errors import ModelDownloadError, ModelError, ModelNotCachedError
from veille.models import hub
from veille.models.progress import NullReporter


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode on, and any socket creation fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened in offline mode")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "socket", refuse)


def test_offline_cached_model_resolves_without_a_socket(
    catalog_model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    home = tmp_path / "home"
    shutil.copytree(catalog_model_cache, home, symlinks=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    resolved = hub.ensure_model("phi-2")
    assert resolved.model_id == "microsoft/phi-2" and (resolved.path / "config.json").is_file()
    assert hub.download(hub.source_for("kosmos-2")) == hub.ensure_model("kosmos-2").path


def test_offline_missing_model_names_the_command(no_network: None) -> None:
    with pytest.raises(ModelNotCachedError, match=r"run `veille models download phi-3-mini` while online"):
        hub.ensure_model("phi-3-mini")
    with pytest.raises(FileNotFoundError):  # the builtin family works too
        hub.ensure_model("org/anything")


def test_local_folder_needs_no_hub(tiny_models: dict[str, Path], no_network: None) -> None:
    resolved = hub.ensure_model(str(tiny_models["phi3"]))
    assert resolved.path == tiny_models["phi3"] and resolved.revision is None


def test_a_revision_can_be_pinned() -> None:
    pinned = hub.source_for("phi-2@0123abc")
    assert pinned.repo_id == "microsoft/phi-2" and pinned.revision == "0123abc" and pinned.label == "phi-2"
    assert hub.source_for("org/x@v1").revision == "v1"
    assert hub.source_for("kosmos-2").revision == "main"


def test_unknown_spec_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        hub.source_for("no such thing")


class _Flaky:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors, self.calls = errors, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _retry(func: _Flaky, retries: int = 3) -> str:
    return hub._with_retries(
        func, source=hub.source_for("phi-2"), reporter=NullReporter(), retries=retries, backoff_s=0.0
    )


def test_transient_errors_are_retried() -> None:
    flaky = _Flaky([httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"), TimeoutError()])
    assert _retry(flaky) == "ok" and flaky.calls == 4


def test_retries_are_bounded() -> None:
    flaky = _Flaky([httpx2.ConnectError("refused")] * 10)
    with pytest.raises(ModelDownloadError, match="failed after 3 tries"):
        _retry(flaky, retries=2)
    assert flaky.calls == 3


def test_backoff_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(hub.time, "sleep", slept.append)
    flaky = _Flaky([httpx2.ConnectError("x")] * 3)
    hub._with_retries(flaky, source=hub.source_for("phi-2"), reporter=NullReporter(), retries=3, backoff_s=0.5)
    assert slept == [0.5, 1.0, 2.0]


def test_other_errors_are_not_retried() -> None:
    flaky = _Flaky([ValueError("bad"), ValueError("bad")])
    with pytest.raises(ValueError):
        _retry(flaky)
    assert flaky.calls == 1
