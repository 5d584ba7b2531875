"""Where the cache lives (huggingface_hub's precedence) and `--cache-dir` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub
from veille.models.cache import hub_cache_dir


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HF_HUB_CACHE": "a", "HUGGINGFACE_HUB_CACHE": "b", "TRANSFORMERS_CACHE": "c", "HF_HOME": "d"}, "a"),
        ({"HUGGINGFACE_HUB_CACHE": "b", "TRANSFORMERS_CACHE": "c", "HF_HOME": "d"}, "b"),
        ({"TRANSFORMERS_CACHE": "c", "HF_HOME": "d"}, "c"),
        ({"HF_HOME": "d"}, "d/hub"),
        ({"XDG_CACHE_HOME": "x"}, "x/huggingface/hub"),
    ],
)
def test_cache_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict, expected: str) -> None:
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    assert hub_cache_dir() == tmp_path / expected
    assert hub_cache_dir(tmp_path / "flag") == tmp_path / "flag"


def test_cache_dir_flag_is_honoured(catalog_repo_dirs: dict[str, Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    with FakeHub(catalog_repo_dirs) as hub:
        env = hub.client_env(tmp_path / "hf")
        run = [sys.executable, "-m", "veille", "models"]
        proc = subprocess.run([*run, "download", "phi-2", "-q", "--cache-dir", str(elsewhere)], env=env, check=False)
        assert proc.returncode == 0
        listed = subprocess.run(
            [*run, "list", "--json", "--cache-dir", str(elsewhere)], env=env, capture_output=True, text=True, check=True
        )
    assert (elsewhere / "models--microsoft--phi-2").is_dir() and not (tmp_path / "hf" / "hub").exists()
    assert {r["name"]: r["cached"] for r in json.loads(listed.stdout)}["phi-2"]
