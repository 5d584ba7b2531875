"""A pinned revision resolves to its own snapshot, or fails naming it: never to another cached one.

The cache is filled with two commits of one repo by veille itself (a fake hub on loopback, in a
subprocess); then everything runs offline, with any socket refused.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub
from tests.hub_fixtures import fill_cache, offline_env
from veille.errors import ModelNotCachedError
from veille.models import hub
from veille.models.cache import cache_info, cached_snapshot

REPO = "org/tiny"


@pytest.fixture(scope="module")
def two_revisions(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """An HF_HOME holding ``org/tiny`` at an older commit and at ``main`` (a newer one): home, old, new."""
    root = tmp_path_factory.mktemp("two-revisions")
    repo, home = root / "repo", root / "home"
    shutil.copytree(tiny_models["phi"], repo)
    (repo / "generation_config.json").write_text(json.dumps({"made_at": "old"}))
    with FakeHub({REPO: repo}) as served:
        fill_cache(served, home, [REPO])
        old = served.commit_sha(REPO)
        (repo / "generation_config.json").write_text(json.dumps({"made_at": "new"}))
        served.add_repo(REPO, repo)
        fill_cache(served, home, [REPO])
        new = served.commit_sha(REPO)
    assert old != new
    return home, old, new


@pytest.fixture
def offline_cache(two_revisions: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The two-revision cache as this test's cache, offline, with sockets refused."""
    home, old, new = two_revisions

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened while resolving from the cache")

    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "socket", refuse)
    return old, new


def _made_at(folder: Path) -> str:
    return json.loads((folder / "generation_config.json").read_text())["made_at"]


def test_the_older_revision_gets_the_older_snapshot(offline_cache: tuple[str, str]) -> None:
    old, new = offline_cache
    pinned = hub.ensure_model(f"{REPO}@{old}")
    assert pinned.path is not None and pinned.path.name == old and pinned.revision == old
    assert _made_at(pinned.path) == "old"
    latest = hub.ensure_model(REPO)
    assert latest.path is not None and latest.path.name == new and _made_at(latest.path) == "new"


@pytest.mark.parametrize("revision", ["c" * 40, "v1.0"])
def test_a_revision_not_in_the_cache_is_an_error_naming_it(offline_cache: tuple[str, str], revision: str) -> None:
    # before: the newest cached snapshot came back for any revision the cache did not hold
    with pytest.raises(ModelNotCachedError) as err:
        hub.ensure_model(f"{REPO}@{revision}")
    message = str(err.value)
    assert f"at revision {revision}" in message
    assert f"`veille models download {REPO} --revision {revision}`" in message
    assert cache_info(REPO, revision=revision).state == "partial"  # other revisions are there, not this one


def test_a_snapshot_missing_a_file_is_partial(two_revisions: tuple[Path, str, str], tmp_path: Path) -> None:
    home, old, _new = two_revisions
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    snapshot = copy / "hub" / "models--org--tiny" / "snapshots" / old
    assert cached_snapshot(REPO, old, copy / "hub", hub.SAFE_PATTERNS)[0] == "complete"
    (snapshot / "tokenizer.json").unlink()  # weights and config are still there: only the hub's record knows
    assert cached_snapshot(REPO, old, copy / "hub", hub.SAFE_PATTERNS) == ("partial", snapshot)


def test_models_download_offline_names_the_pinned_revision(two_revisions: tuple[Path, str, str]) -> None:
    home, old, _new = two_revisions
    run = [sys.executable, "-m", "veille", "models", "download", REPO, "--offline"]
    env = offline_env(home)
    ok = subprocess.run([*run, "--revision", old], env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and f"snapshots/{old}" in ok.stdout, ok.stderr
    missing = subprocess.run([*run, "--revision", "v9"], env=env, capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "at revision v9 is not in the cache" in missing.stderr and "--revision v9` while online" in missing.stderr
