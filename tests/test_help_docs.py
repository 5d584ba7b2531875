"""`analyze --help` names the default profile and the exit codes; the README's usage and test
instructions cover every command, the real-footage folder and the CPU build of torch; CI finds the
real footage beside the checkout."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.cli_run import ROOT, veille

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    following = re.search(r"\n#{2,3} ", README[start + len(title) :])
    return README[start : start + len(title) + (following.start() if following else len(README))]


def test_analyze_help_names_the_default_profile_and_the_exit_codes(tmp_path: Path) -> None:
    done = veille("analyze", "--help", cwd=tmp_path)
    assert done.code == 0, done.err
    text = " ".join(done.out.split())
    assert "[default: default" in text
    codes = done.out[done.out.index("Exit codes:") :]
    for code, meaning in (("0", "analysed"), ("1", "failed"), ("2", "usage"), ("130", "interrupted")):
        assert re.search(rf"^\s+{code}\s+.*{meaning}", codes, flags=re.M), (code, codes)


def test_readme_usage_lists_every_command_and_device() -> None:
    usage = _section("## Usage")
    block = usage[usage.index("```bash") : usage.index("```", usage.index("```bash") + 7)]
    for command in ("veille analyze", "veille models list", "veille models download", "veille models remove",
                    "veille sample", "veille schema", "veille eval activity"):  # fmt: skip
        assert command in block, command
    assert "--device auto|cpu|cuda|mps" in block and "default profile: default" in block


def test_readme_says_how_to_run_the_real_footage_tests_and_get_a_cpu_torch() -> None:
    quick = _section("## Quick start")
    tests_at = quick.index(".venv/bin/python -m pytest")
    assert "VEILLE_DATA_DIR" in quick[tests_at : tests_at + 600] and "skipped" in quick[tests_at : tests_at + 600]
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"pip install torch=={pinned} --index-url https://download.pytorch.org/whl/cpu" in quick


def test_ci_points_the_data_tests_at_the_shared_folder_when_it_exists(tmp_path: Path) -> None:
    script = (ROOT / ".ci" / "run").read_text()
    block = script[script.index("if [ -d ../shared/data ]") : script.index("fi\n", script.index("../shared/data")) + 3]
    assert script.index(block) < script.index("python -m pytest")  # set before the tests run
    probe = f'set -eu\n{block}\necho "${{VEILLE_DATA_DIR:-unset}}"\n'
    checkout = tmp_path / "repo"
    checkout.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VEILLE_DATA_DIR"}
    run = subprocess.run(["bash", "-c", probe], cwd=checkout, env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "unset"  # no folder, nothing set: the data tests skip
    (tmp_path / "shared" / "data").mkdir(parents=True)
    run = subprocess.run(["bash", "-c", probe], cwd=checkout, env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str((tmp_path / "shared" / "data").resolve())  # absolute: tests change folder
