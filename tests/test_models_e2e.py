"""End to end: `veille analyze` resolves models lazily: offline from the cache, online on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fake_hub import FakeHub
from tests.hub_fixtures import offline_env


def analyze(video: Path, out: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "veille", "analyze", str(video), "--out", str(out), "--device", "cpu", *args]
    few_calls = {"VEILLE_SCAN__CHUNK_S": "120", "VEILLE_SCAN__KEYFRAMES_PER_CHUNK": "1", "VEILLE_FORMATS": '["json"]'}
    return subprocess.run(cmd, env={**env, **few_calls}, capture_output=True, text=True, timeout=300, check=False)


def report(out: Path, video: Path) -> dict:
    return json.loads((out / video.stem / "report.json").read_text())


def test_missing_model_offline_falls_back_or_fails_with_strict(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    video, _truth = sample_clip
    env = offline_env(tmp_path / "empty-home")
    proc = analyze(video, tmp_path / "out", "--profile", "fast", env=env)
    assert proc.returncode == 0, proc.stderr
    # every missing model of the profile, and the one command that fetches them all
    advice = "still needs smolvlm-256m (513.0 MB), phi-2 (5.6 GB): `veille models download --profile fast`"
    assert "smolvlm-256m is not in the cache and offline mode is on" in proc.stderr and advice in proc.stderr
    assert "veille: not in the cache" not in proc.stderr  # offline: nothing is about to be downloaded
    warnings = report(tmp_path / "out", video)["warnings"]
    assert any(advice in w for w in warnings)
    strict = analyze(video, tmp_path / "strict", "--profile", "fast", "--strict", env=env)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert advice in strict.stderr and "analysed without" not in strict.stderr  # failed, not a fallback


def test_first_use_downloads_from_the_hub(
    sample_clip: tuple[Path, dict], catalog_repo_dirs: dict[str, Path], tmp_path: Path
) -> None:
    video, _truth = sample_clip
    with FakeHub(catalog_repo_dirs) as hub:
        env = hub.client_env(tmp_path / "hf")
        proc = analyze(video, tmp_path / "out", "--profile", "fast", "--llm", "phi-3-mini", "--verbose", env=env)
        fetched = hub.requested_files("GET")
    assert proc.returncode == 0, proc.stderr
    assert fetched.count("model.safetensors") == 2 and "pytorch_model.bin" not in fetched
    models = report(tmp_path / "out", video)["models"]
    assert models["describer"]["id"] == "HuggingFaceTB/SmolVLM-256M-Instruct"
    assert models["reasoner"]["id"] == "microsoft/Phi-3-mini-4k-instruct"
    log = proc.stderr
    assert "loaded describer HuggingFaceTB/SmolVLM-256M-Instruct on cpu (fp32" in log
    assert log.index("released describer") < log.index("loaded reasoner")  # freed before the reasoner loads
