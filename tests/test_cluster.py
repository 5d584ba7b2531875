"""``analyze --cluster``: on a real two-node Ray cluster, the same reports and index as a local batch,
through a killed task worker, a killed model worker, a file:// input and Ctrl-C.

The cluster tests need Ray (the ``dev`` extra installs it): they fail without it, unless
``VEILLE_SKIP_CLUSTER=1`` says to skip them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import cli_env, in_process
from tests.cluster_clips import write_clips
from tests.ray_cluster import LocalCluster, kill_first, local_cluster

TIMINGS = ("scan_s", "analysis_s", "realtime_factor", "download_s")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\-Z:0-9]*")
FIGURE = re.compile(r"\d+(\.\d+)?(\s?s|×)")
DOWNLOADS = re.compile(r"<tr><td>model downloads[^\n]*?</tr>|\| model downloads[^\n]*\n")  # a timing, shown when > 0


def _need_ray() -> None:
    """Skip with VEILLE_SKIP_CLUSTER=1; otherwise Ray must be there (a failure, not a skip)."""
    if os.environ.get("VEILLE_SKIP_CLUSTER") == "1":
        pytest.skip("VEILLE_SKIP_CLUSTER=1")
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail('the cluster tests need Ray: pip install -e ".[dev]" (or VEILLE_SKIP_CLUSTER=1 to skip them)')


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A head (1 CPU) and a worker node (2 CPUs) on 127.0.0.1, for the tests of this module."""
    _need_ray()
    yield from local_cluster(head_cpus=1, worker_cpus=2)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-clips")
    write_clips(root, 10)
    (root / "broken.mp4").write_bytes(b"not a video" * 100)  # fails alone, with the local batch's message
    return root


def _cluster_run(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``veille ARGS`` in a subprocess (the driver), stdout/stderr captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "veille", *args],
        cwd=cwd,
        env=cli_env(RAY_AUTH_MODE="disabled"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a driver as a user starts it: Ctrl-C at its default even if this process ignores it now
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data.pop("created_at")
    for key in TIMINGS:
        data["stats"].pop(key)
    return data


def _index(out: Path) -> dict[str, Any]:
    data = json.loads((out / "index.json").read_text())
    data.pop("created_at")
    return data


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def _text(path: Path) -> str:
    """A report's text with its figures of time and speed blanked."""
    return FIGURE.sub("N", ISO_TIME.sub("T", DOWNLOADS.sub("", path.read_text())))


def assert_same_reports(local: Path, remote: Path, *, video_path: dict[str, str] | None = None) -> None:
    """Every file of ``remote`` is ``local``'s: same names, same reports apart from timings."""
    assert _files(remote) == _files(local)
    assert not [name for name in _files(remote) if name.endswith(".tmp")]
    assert _index(remote) == _index(local)
    for name in sorted(_files(local)):
        a, b = local / name, remote / name
        if name.endswith("report.json"):
            expected = _report(a)
            if video_path is not None:
                expected["video"]["path"] = video_path[name.split("/")[0]]
            assert _report(b) == expected, name
        elif name.endswith((".md", ".html", ".srt", ".vtt")) and not (video_path and name.endswith((".md", ".html"))):
            assert _text(b) == _text(a), name
        elif name.endswith((".jpg", ".jpeg", ".png", ".veille-source")):
            assert b.read_bytes() == a.read_bytes(), name


@pytest.mark.cluster
def test_motion_batch_on_the_cluster_is_the_local_batch_despite_a_killed_task_worker(
    cluster: LocalCluster, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = in_process(capsys, ["analyze", str(clips), "--profile", "motion", "--out", "local", "-q"])
    assert code == 1, err
    proc = _cluster_run("analyze", str(clips), "--profile", "motion", "--out", "remote", "--cluster", cluster.address,
                        cwd=tmp_path)  # fmt: skip
    killed = kill_first(cluster, "ray::analyze_video")  # a task's worker, mid-video: Ray runs the task again
    code, said = _finish(proc)
    assert code == 1, said  # broken.mp4 failed, as in the local batch
    assert killed and "Traceback" not in said and "1 of 11 inputs failed: " in said
    index = json.loads((tmp_path / "remote" / "index.json").read_text())
    assert index["complete"] and [v["status"] for v in index["videos"]] == ["failed"] + ["ok"] * 10
    ok = [v for v in index["videos"] if v["status"] == "ok"]
    assert all(json.loads((tmp_path / "remote" / v["report"]).read_text())["complete"] for v in ok)
    assert_same_reports(tmp_path / "local", tmp_path / "remote")
    assert (tmp_path / "remote" / "archive.sqlite").is_file()


@pytest.mark.cluster
def test_an_input_read_through_fsspec_gives_the_local_report_naming_its_url(
    cluster: LocalCluster, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for name in ("cam00.mp4", "cam01.mp4"):
        (few / name).write_bytes((clips / name).read_bytes())
    code, _, err = in_process(capsys, ["analyze", str(few), "--profile", "motion", "--out", "local", "-q"])
    assert code == 0, err
    url = f"file://{few}"
    proc = _cluster_run("analyze", url, "--profile", "motion", "--out", "remote", "--cluster", cluster.address,
                        cwd=tmp_path)  # fmt: skip
    code, said = _finish(proc)
    assert code == 0, said
    index = json.loads((tmp_path / "remote" / "index.json").read_text())
    assert [v["video"] for v in index["videos"]] == [f"{url}/cam00.mp4", f"{url}/cam01.mp4"]
    for entry in json.loads((tmp_path / "local" / "index.json").read_text())["videos"]:
        entry["video"] = f"{url}/{Path(entry['video']).name}"
    paths = {name: f"{url}/{name}.mp4" for name in ("cam00", "cam01")}
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert _files(remote) == _files(local)
    for name in paths:
        expected = _report(local / name / "report.json")
        expected["video"]["path"] = paths[name]
        assert _report(remote / name / "report.json") == expected


@pytest.mark.cluster
def test_cluster_ray_alone_starts_a_local_instance_and_writes_the_local_batch(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_ray()
    code, _, err = in_process(capsys, ["analyze", str(clips), "--profile", "motion", "--out", "local", "-q"])
    assert code == 1, err  # broken.mp4
    ray_tmp = Path(tempfile.mkdtemp(prefix="vrl"))  # Ray's files here (short socket paths), not its shared default
    try:
        env = cli_env(HOME=str(tmp_path), RAY_TMPDIR=str(ray_tmp), RAY_USAGE_STATS_ENABLED="0")
        argv = ["analyze", str(clips), "--profile", "motion", "--out", "remote", "--cluster", "ray", "-q"]
        proc = subprocess.run([sys.executable, "-m", "veille", *argv], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 1, proc.stderr
    assert_same_reports(tmp_path / "local", tmp_path / "remote")


def _model_args(tiny_models: dict[str, Path]) -> list[str]:
    return [
        "--profile", "full", "--vlm", str(tiny_models["idefics3"]), "--llm", str(tiny_models["phi"]),
        "--grounder", str(tiny_models["kosmos2"]), "--device", "cpu", "--dtype", "fp32", "--no-8bit", "--offline",
    ]  # fmt: skip


@pytest.mark.cluster
def test_models_on_the_cluster_give_the_local_reports_despite_a_killed_model_worker(
    cluster: LocalCluster,
    clips: Path,
    tiny_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for n in range(3):
        (few / f"cam0{n}.mp4").write_bytes((clips / f"cam0{n}.mp4").read_bytes())
    monkeypatch.setenv("VEILLE_MODEL_LIFETIME", "batch")  # the local run loads each model once, as the workers do
    code, _, err = in_process(capsys, ["analyze", str(few), *_model_args(tiny_models), "--out", "local", "-q"])
    monkeypatch.delenv("VEILLE_MODEL_LIFETIME")
    assert code == 0, err
    local = json.loads((tmp_path / "local" / "cam00" / "report.json").read_text())
    assert local["stats"]["vlm_calls"] and local["stats"]["llm_calls"] and local["models"]["grounder"]
    proc = _cluster_run("analyze", str(few), *_model_args(tiny_models), "--out", "remote", "--cluster",
                        cluster.address, cwd=tmp_path)  # fmt: skip
    killed = kill_first(cluster, "ray::ModelWorker.")  # mid-call: restarted, its calls run again
    code, said = _finish(proc)
    assert code == 0, said
    assert killed
    assert_same_reports(tmp_path / "local", tmp_path / "remote")


@pytest.mark.cluster
def test_ctrl_c_writes_partial_reports_and_the_index_then_the_same_command_resumes(
    cluster: LocalCluster, tiny_models: dict[str, Path], clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    few = tmp_path / "few"
    few.mkdir()
    for clip in sorted(clips.glob("cam*.mp4")):  # all ten: videos still to do when the first is indexed
        (few / clip.name).write_bytes(clip.read_bytes())
    argv = ["analyze", str(few), *_model_args(tiny_models), "--out", "remote", "--cluster", cluster.address]
    proc = _cluster_run(*argv, cwd=tmp_path)
    index = tmp_path / "remote" / "index.json"
    # the interrupt must come once the run has really started: after the earlier tests' drivers, the
    # head's client server took up to ~4 minutes to take a new one in whole-suite runs (an interrupt
    # sent while the driver is still connecting is lost in Ray's client and the batch then runs whole)
    deadline = time.monotonic() + 540
    while time.monotonic() < deadline and not (index.is_file() and '"ok"' in index.read_text()):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    code, said = _finish(proc)
    assert code == 130, said
    assert "interrupted" in said and "Traceback" not in said
    data = json.loads(index.read_text())
    statuses = [v["status"] for v in data["videos"]]
    assert not data["complete"] and "ok" in statuses and "interrupted" in statuses, statuses
    for entry in data["videos"]:
        if entry["status"] == "interrupted":  # stopped mid-video: its partial report, marked so
            assert json.loads((tmp_path / "remote" / entry["report"]).read_text())["complete"] is False
        if entry["status"] == "pending":
            assert entry["report"] is None
    code, said = _finish(_cluster_run(*argv, cwd=tmp_path))
    assert code == 0, said
    assert [v["status"] for v in json.loads(index.read_text())["videos"]] == ["ok"] * 10


def test_cluster_without_ray_says_how_to_install_it(
    clips: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if it were not installed
    code, _, err = in_process(capsys, ["analyze", str(clips), "--profile", "motion", "--cluster", "ray"])
    assert code == 2
    assert err.strip() == 'veille: error: --cluster needs Ray, an optional extra: pip install -e ".[ray]"'
    assert not Path("veille-reports").exists()


@pytest.mark.parametrize("value", ["ray:/host", "spark://host:7077", "ray://"])
def test_a_cluster_that_is_not_ray_is_one_line(
    value: str, clips: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = in_process(capsys, ["analyze", str(clips), "--profile", "motion", "--cluster", value])
    assert code == 2 and err.count("\n") == 1 and "give 'ray'" in err


def test_the_cluster_setting_is_read_from_the_settings_file(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "veille.toml").write_text('cluster = "ray://10.0.0.1:10001"\n')
    code, _, err = in_process(capsys, ["analyze", str(clips), "--profile", "motion"])
    assert code == 2 and "pip install" in err
