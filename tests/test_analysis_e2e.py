"""Done-when: `HF_HUB_OFFLINE=1 veille analyze clip.mp4 --profile full` with tiny checkpoints in the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_fixtures import offline_env
from veille.settings import Settings
from veille.video.probe import probe
from veille.video.scan import scan_video

pytestmark = pytest.mark.slow


def _analyze(clip: Path, out: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [sys.executable, "-m", "veille", "analyze", str(clip), "--out", str(out), *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    report = out / clip.stem / "report.json"
    return done, json.loads(report.read_text()) if report.exists() else {}


def test_full_profile_offline_gives_vlm_grounded_judged_events(
    sample_clip: tuple[Path, dict], offline_models: dict[str, str], tmp_path: Path
) -> None:
    clip, _truth = sample_clip
    done, report = _analyze(clip, tmp_path / "out", offline_models, "--profile", "full", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    models = report["models"]
    assert models["describer"]["id"] == "HuggingFaceTB/SmolVLM-Instruct"
    assert (
        models["reasoner"]["id"] == "microsoft/phi-2" and models["grounder"]["id"] == "microsoft/kosmos-2-patch14-224"
    )
    roles = ("describer", "reasoner", "grounder")
    assert all(models[r]["device"] == "cpu" and models[r]["dtype"] == "fp32" for r in roles)
    assert all(models[r]["quantization"] == "int8-dynamic" for r in roles)  # the CPU default
    events, stats = report["events"], report["stats"]
    assert events and any(e["source"] == "vlm" for e in events)
    chunks = [c for c in scan_video(probe(clip), Settings().scan).chunks if c.keyframes and not c.heartbeat]
    assert 1 <= stats["vlm_calls"] <= len(chunks) and stats["frames_to_vlm"] >= len(chunks)
    assert stats["llm_calls"] >= 1
    for event in events:
        assert 0 <= event["threat_level"] <= 2 and 0 <= event["confidence"] <= 1 and len(event["title"]) <= 60


def test_no_model_reachable_falls_back_to_motion_only(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    clip, _truth = sample_clip
    env = offline_env(tmp_path / "empty-hf-home")
    done, report = _analyze(clip, tmp_path / "out", env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert report["events"] and all(e["source"] == "motion" for e in report["events"])
    assert any("motion-only" in w for w in report["warnings"]) and "motion-only" in done.stderr
    strict, _ = _analyze(clip, tmp_path / "strict", env, "--strict")
    assert strict.returncode != 0 and "Traceback" not in strict.stderr
