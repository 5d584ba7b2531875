"""The parts of ``--cluster`` that need no cluster: the address, the workers' count, the batcher that
merges describer requests, report folders carried as bytes, URLs read through fsspec."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from veille.cluster.actors import worker_count
from veille.cluster.batcher import Batcher
from veille.cluster.connect import ClusterError, parse_cluster
from veille.cluster.files import deliver, expand_urls, read_folder, stage_folder
from veille.errors import InputNotFoundError, OutputError
from veille.settings import Settings


def test_ray_alone_starts_a_local_instance_and_ray_url_joins() -> None:
    assert parse_cluster("ray") is None
    assert parse_cluster(" ray://10.0.0.5:10001 ") == "ray://10.0.0.5:10001"
    with pytest.raises(ClusterError, match="give 'ray'"):
        parse_cluster("ray:10001")


def test_one_model_worker_per_gpu_else_per_n_cpu_cores() -> None:
    assert worker_count({"CPU": 64.0, "GPU": 4.0}, 4) == (4, {"num_gpus": 1, "num_cpus": 1})
    assert worker_count({"CPU": 16.0}, 4) == (4, {"num_cpus": 1})
    assert worker_count({"CPU": 2.0}, 4) == (1, {"num_cpus": 1})


def test_the_batcher_merges_concurrent_callers_and_gives_each_its_own_answers() -> None:
    calls: list[list[str]] = []

    def generate(requests: list[str], tokens: int) -> list[str]:
        calls.append(list(requests))
        time.sleep(0.05)
        return [f"{r}:{tokens}" for r in requests]

    batcher = Batcher(generate, size=8)
    answers: dict[int, list[str]] = {}

    def caller(n: int) -> None:
        answers[n] = batcher.run([f"v{n}c0", f"v{n}c1"], 16)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == {n: [f"v{n}c0:16", f"v{n}c1:16"] for n in range(4)}
    assert len(calls) < 4 and max(len(c) for c in calls) > 2  # several videos' chunks went through one call
    assert all(len(c) <= 8 for c in calls)


def test_a_failed_batch_fails_each_of_its_callers() -> None:
    def generate(requests: list[str], tokens: int) -> list[str]:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        Batcher(generate, size=8).run(["a"], 8)


def test_a_folder_travels_as_bytes_and_lands_whole(tmp_path: Path) -> None:
    out = tmp_path / "out" / "cam"
    out.mkdir(parents=True)
    (out / ".veille-source").write_text("/videos/cam.mp4\n")
    (out / "thumbs").mkdir()
    (out / "thumbs" / "old.jpg").write_bytes(b"stale")  # a thumbnail the new report does not show
    files = {"report.json": b"{}", "thumbs/e1-0.jpg": b"jpeg"}
    stage = tmp_path / "stage" / "cam"
    stage_folder(files, stage)
    assert read_folder(stage) == files
    deliver(read_folder(stage), out, keep=frozenset({".veille-source"}))
    assert read_folder(out) == {".veille-source": b"/videos/cam.mp4\n", **files}
    with pytest.raises(OutputError):
        deliver({"../escape.json": b"x"}, out)


def test_a_file_url_names_each_video_of_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.mp4").write_bytes(b"x")
    (tmp_path / "a" / "two.mkv").write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    assert expand_urls(f"file://{tmp_path}/a") == [f"file://{tmp_path}/a/one.mp4", f"file://{tmp_path}/a/two.mkv"]
    assert expand_urls(f"file://{tmp_path}/a/one.mp4") == [f"file://{tmp_path}/a/one.mp4"]
    with pytest.raises(InputNotFoundError, match="no video found"):
        expand_urls(f"file://{tmp_path}/missing")


def test_one_bar_shows_videos_done_and_hours_of_footage_per_hour() -> None:
    import io

    from veille.cluster.driver import Tally
    from veille.cluster.progress import ClusterBar
    from veille.console import Console

    err = io.StringIO()
    bar = ClusterBar(Console(tty=True, err=err, out=io.StringIO()), total=20)
    tally = Tally(total=20, done=5, footage_s=3 * 3600.0, started=time.perf_counter() - 1800)  # 3 h in half an hour
    bar.tick(tally, running_s=1800.0)  # plus half an hour of footage scanned by the videos still running
    bar.close()
    shown = err.getvalue()
    assert "5/20 videos" in shown and "7.0 h of footage per hour" in shown
    assert ClusterBar(Console(tty=False, err=err), total=2)._bars is None  # no bar in a pipe


def test_a_task_sizes_its_decoder_threads_by_its_cpus_not_the_nodes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    from veille import cpus
    from veille.cluster import task
    from veille.video.decode import decode_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    monkeypatch.setenv(cpus.ENV, "")
    assert cpus.available() == 64 and decode_threads("h264") == "AUTO"  # a big node: FFmpeg's threads pay
    assert task.TASK_CPUS == 1
    done = task.analyze_video(task.VideoJob(0, str(tmp_path / "missing.mp4"), "missing", Settings()))
    assert done.status == "failed"
    assert cpus.available() == 1 and decode_threads("h264") == "SLICE"  # the task's 1 CPU, not the node's 64
    monkeypatch.setenv(cpus.ENV, "not a number")
    assert cpus.available() == 64
