"""`veille models download / list / remove` against a fault-injecting fake hub on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import, so every client runs in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub
from tests.hub_fixtures import DECOY

DONE_WHEN = ["smolvlm", "phi-2", "kosmos-2"]


def veille(*args: str, env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run the veille CLI in a fresh interpreter (``prelude`` runs first, e.g. to patch shutil)."""
    code = f"{prelude}\nfrom veille.cli import main\nmain({list(args)!r})"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single error line on stderr (no traceback), containing every needle."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("veille: error:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def listing(env: dict[str, str]) -> dict[str, dict]:
    proc = veille("models", "list", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in json.loads(proc.stdout)}


def test_done_when_cut_transfers_safetensors_only_then_offline_list(
    catalog_repo_dirs: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "hf"
    with FakeHub(catalog_repo_dirs) as hub:
        hub.cut_first_transfer("*.safetensors")
        proc = veille("models", "download", *DONE_WHEN, env=hub.client_env(home))
        assert proc.returncode == 0, proc.stderr
        gets = hub.requested_files("GET")
        heads = hub.requested_files("HEAD")
        rows = listing({**hub.client_env(home), "HF_HUB_OFFLINE": "1"})
    assert DECOY not in gets + heads
    assert gets.count("model.safetensors") == 2 * len(DONE_WHEN)  # each cut once, then fetched again
    files = [p.name for p in (home / "hub").rglob("*") if p.is_file() or p.is_symlink()]
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".incomplete"))]
    for name in DONE_WHEN:
        assert f"{name}: ready" in proc.stdout
    assert all(rows[n]["cached"] and rows[n]["cache_state"] == "complete" for n in DONE_WHEN)
    for name in DONE_WHEN:
        served = catalog_repo_dirs[rows[name]["repo_id"]] / "model.safetensors"
        assert Path(rows[name]["path"], "model.safetensors").read_bytes() == served.read_bytes()
    assert not rows["phi-3-mini"]["cached"] and rows["phi-3-mini"]["cache_state"] == "no"


def test_offline_with_empty_cache_fails_in_one_line(catalog_repo_dirs: dict[str, Path], tmp_path: Path) -> None:
    with FakeHub(catalog_repo_dirs) as hub:
        env = hub.client_env(tmp_path / "hf", offline=True)
        proc = veille("models", "download", "smolvlm", env=env)
        one_line_error(proc, "not in the cache", "veille models download smolvlm", "while online")
        flag = veille("models", "download", "phi-3-mini", "--offline", env=hub.client_env(tmp_path / "hf"))
        one_line_error(flag, "veille models download phi-3-mini")
        assert hub.requests == []


def test_too_small_disk_refused_before_the_first_byte(catalog_repo_dirs: dict[str, Path], tmp_path: Path) -> None:
    prelude = "import shutil\n_real = shutil.disk_usage\nshutil.disk_usage = lambda p: _real(p)._replace(free=1000)"
    with FakeHub(catalog_repo_dirs) as hub:
        proc = veille("models", "download", "kosmos-2", env=hub.client_env(tmp_path / "hf"), prelude=prelude)
        line = one_line_error(proc, "not enough disk space", "1.0 kB free", "--cache-dir")
        assert "still to download" in line
        assert hub.requested_files("GET") == []


def test_progress_lines_when_not_a_tty_and_silence_when_quiet(
    catalog_repo_dirs: dict[str, Path], tmp_path: Path
) -> None:
    with FakeHub(catalog_repo_dirs) as hub:
        loud = veille("models", "download", "phi-3-mini", env=hub.client_env(tmp_path / "a"))
        quiet = veille("models", "download", "phi-3-mini", "--quiet", env=hub.client_env(tmp_path / "b"))
    assert loud.returncode == 0 and quiet.returncode == 0, loud.stderr + quiet.stderr
    per_file = [ln for ln in loud.stderr.splitlines() if ln.startswith("  ")]
    names = {ln.split()[0] for ln in per_file}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names
    assert any("/s" in ln for ln in per_file)
    assert quiet.stdout == "" and quiet.stderr == ""


def test_no_name_downloads_the_profile_models(catalog_repo_dirs: dict[str, Path], tmp_path: Path) -> None:
    with FakeHub(catalog_repo_dirs) as hub:
        env = hub.client_env(tmp_path / "hf")
        proc = veille("models", "download", "--profile", "fast", "-q", env=env)
        assert proc.returncode == 0, proc.stderr
        rows = listing(env)
    assert rows["smolvlm-256m"]["cached"] and rows["phi-2"]["cached"] and not rows["smolvlm"]["cached"]


def test_resume_of_a_big_file_keeps_whole_chunks(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(tiny_models["phi"], repo)
    with FakeHub({"org/big": repo}) as hub:
        hub.add_random_file("org/big", "big.safetensors", size=24 * 1024 * 1024)
        hub.cut_first_transfer("big.safetensors", nbytes=15 * 1024 * 1024)
        proc = veille("models", "download", "org/big", "-q", env=hub.client_env(tmp_path / "hf"))
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # quiet even through a cut
        ranges = [r.range for r in hub.requests if r.range]
    assert ranges == [f"bytes={10 * 1024 * 1024}-"]
    blob = next((tmp_path / "hf" / "hub").rglob("big.safetensors"))
    assert blob.read_bytes() == (repo / "big.safetensors").read_bytes()


def test_http_500_then_ok_and_a_stall_past_the_timeout_are_survived(
    catalog_repo_dirs: dict[str, Path], tmp_path: Path
) -> None:
    with FakeHub(catalog_repo_dirs) as hub:
        hub.fail_then_ok("/api/models/*/revision/*", status=500, times=1)
        hub.fail_then_ok("config.json", status=503, times=1, methods=("GET",))
        hub.stall("tokenizer.json", seconds=4, times=1, methods=("GET",))
        env = hub.client_env(tmp_path / "hf", HF_HUB_DOWNLOAD_TIMEOUT="1", HF_HUB_ETAG_TIMEOUT="1")
        proc = veille("models", "download", "phi-2", env=env)
        assert proc.returncode == 0, proc.stderr
        assert listing(env)["phi-2"]["cached"]
    assert "phi-2: HTTP 500; retry 1/" in proc.stderr and "phi-2: HTTP 503; retry 1/" in proc.stderr
    assert "timed out" in proc.stderr  # the stall: huggingface_hub's own resume took over


@pytest.mark.parametrize(
    ("args", "gated", "needles"),
    [
        (("org/missing",), (), ("org/missing was not found",)),
        (("phi-2",), ("microsoft/phi-2",), ("is gated", "hf auth login")),
        (("phi-2", "--revision", "0123456789abcdef"), (), ("revision '0123456789abcdef' does not exist",)),
        (("not a model",), (), ("unknown model 'not a model'", "veille models list")),
    ],
)
def test_missing_gated_and_bad_revision_are_one_line(
    catalog_repo_dirs: dict[str, Path],
    tmp_path: Path,
    args: tuple[str, ...],
    gated: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    with FakeHub(catalog_repo_dirs, gated=gated) as hub:
        proc = veille("models", "download", *args, env=hub.client_env(tmp_path / "hf"))
    one_line_error(proc, *needles)


def test_remove_says_what_it_freed(catalog_model_cache: Path, tmp_path: Path) -> None:
    from tests.hub_fixtures import offline_env

    home = tmp_path / "home"
    import shutil

    shutil.copytree(catalog_model_cache, home, symlinks=True)
    env = offline_env(home)
    assert listing(env)["kosmos-2"]["cached"]
    proc = veille("models", "remove", "kosmos-2", env=env)
    assert proc.returncode == 0 and re.search(r"freed \d+\.\d (kB|MB)", proc.stdout), proc.stdout
    assert listing(env)["kosmos-2"]["cache_state"] == "no"
    again = veille("models", "remove", "kosmos-2", env=env)
    assert "nothing removed" in again.stdout


def test_partial_cache_is_listed_as_partial(catalog_model_cache: Path, tmp_path: Path) -> None:
    import shutil

    from tests.hub_fixtures import offline_env

    home = tmp_path / "home"
    shutil.copytree(catalog_model_cache, home, symlinks=True)
    weights = next((home / "hub" / "models--microsoft--phi-2" / "snapshots").rglob("model.safetensors"))
    weights.resolve().unlink()  # the blob is gone, the snapshot link dangles
    assert listing(offline_env(home))["phi-2"]["cache_state"] == "partial"
