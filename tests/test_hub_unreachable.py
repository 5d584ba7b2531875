"""Models that cannot be had: said before the work starts, retries shown as they happen, one try per run.

`veille analyze` runs in a subprocess against a fake hub that answers 503 to everything, or against a
closed loopback port. The retry back-off is shortened (``DEFAULT_BACKOFF_S``) so the runs stay short;
the number of tries is the real one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.fake_hub import FakeHub
from tests.hub_fixtures import catalog_repos

FAST_BACKOFF = "import veille.models.hub as hub\nhub.DEFAULT_BACKOFF_S = 0.01\n"
FETCH_FAST = "`veille models download --profile fast`"
CLOSING_FAST = (
    "veille: warning: analysed without the describer smolvlm-256m (download failed): events are motion-only;"
    f" {FETCH_FAST} fetches the missing models; --profile motion needs no model"
)


def veille(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter, with the short back-off."""
    code = f"{FAST_BACKOFF}from veille.cli import main\nmain({list(args)!r})"
    run_env = {**env, "VEILLE_FORMATS": "json"}
    return subprocess.run(
        [sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=300, check=False
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def three_videos(clip: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(clip, folder / f"{name}.mp4")
    return folder


def test_a_batch_tries_the_hub_once_and_says_what_is_missing(
    sample_clip: tuple[Path, dict], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    repos = catalog_repos(tiny_models, tmp_path / "repos", ["smolvlm-256m", "phi-2"])
    videos = three_videos(sample_clip[0], tmp_path / "videos")
    out = tmp_path / "out"
    with FakeHub(repos) as hub:
        hub.fail_then_ok("*", status=503, times=10_000)
        env = hub.client_env(tmp_path / "hf")
        proc = veille("analyze", str(videos), "--profile", "fast", "--out", str(out), env=env)
        asked = [r.path for r in hub.requests]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    # before the first video: what is about to be downloaded, how much, where to
    assert lines[0] == (
        f"veille: not in the cache: smolvlm-256m (513.0 MB), phi-2 (5.6 GB); about to download 6.1 GB to"
        f" {tmp_path / 'hf' / 'hub'} as the models are first needed ({FETCH_FAST} fetches them ahead;"
        " --profile motion needs no model)"
    )
    # one series of tries for the whole batch (before: one per video, 15 requests), each retry shown
    assert len(asked) == 5 and all("SmolVLM-256M-Instruct" in p for p in asked), asked
    retries = [ln for ln in lines if "; retry " in ln]
    assert [re.search(r"retry (\d)/4 in \d+\.\d s", ln).group(1) for ln in retries] == ["1", "2", "3", "4"]
    assert all("smolvlm-256m: HTTP 503" in ln for ln in retries)
    unavailable = [ln for ln in lines if "is unavailable" in ln]
    assert len(unavailable) == 3  # each video's own warning (and report) says it
    assert "smolvlm-256m could not be downloaded (HTTP 503)" in unavailable[0]
    assert all("(HTTP 503; not asked again in this run)" in ln for ln in unavailable[1:])
    assert f"still needs smolvlm-256m (513.0 MB), phi-2 (5.6 GB): {FETCH_FAST} fetches them all" in unavailable[0]
    assert "--profile motion needs no model" in unavailable[0]
    assert lines.index(retries[-1]) < lines.index(unavailable[0])
    assert lines[-1] == CLOSING_FAST
    for name in ("a", "b", "c"):
        report = json.loads((out / name / "report.json").read_text())
        assert report["events"] and all(e["source"] == "motion" for e in report["events"])
        assert any(FETCH_FAST in w for w in report["warnings"])


def test_the_default_profile_says_first_what_it_will_download(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    proc = veille("analyze", str(sample_clip[0]), "--out", str(tmp_path / "out"), "-v", env=_closed_env(tmp_path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("veille: not in the cache: smolvlm (4.5 GB), phi-2 (5.6 GB); about to download 10.1 GB")
    assert f"to {tmp_path / 'hf' / 'hub'} as the models are first needed" in lines[0]
    assert "`veille models download --profile default` fetches them ahead" in lines[0]
    assert any(ln.startswith("Scanning") for ln in lines[1:])  # the notice comes before any work
    assert sum("; retry " in ln and "Connection refused" in ln for ln in lines) == 4
    assert lines[-1].startswith("veille: warning: analysed without the describer smolvlm (download failed)")


def test_quiet_says_only_the_closing_line(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    args = ("analyze", str(sample_clip[0]), "--profile", "fast", "--out", str(tmp_path / "out"), "-q")
    proc = veille(*args, env=_closed_env(tmp_path))
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.splitlines() == [CLOSING_FAST]


def _closed_env(tmp_path: Path) -> dict[str, str]:
    """A Hub endpoint on a closed loopback port (every connection refused), an empty cache, no VEILLE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "VEILLE_"))}
    home = tmp_path / "hf"
    env.update(HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"), HF_HUB_DISABLE_TELEMETRY="1")
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env
