"""Scale-out benchmark: the same batch of short clips (motion profile) as a local batch and on a local
Ray cluster (a head with no CPU for tasks plus one worker node of 1, then 2 CPUs), then a cost model.

Prints, per run: wall time and throughput (hours of footage per hour), speed-up of 2 workers over 1;
per-task overhead (inside the task: staging the folder and reading it back; and Ray's round trip of
an empty task; and the whole, per video: workers x wall - the analyses' own time); the scan of a
10-minute clip of the same kind, to put the overhead against it; and the cost model: CPU cores and
GPUs for 1,200 camera-hours a day per profile. What this run measures and what the cost model
extrapolates are labelled.

    python benchmarks/cluster.py [--clips 20] [--seconds 60] [--long-minutes 10] [--camera-hours 1200]

Clips go to a temporary folder; the clusters are started and stopped with ``ray start``/by pid.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.cluster_clips import write_clips  # noqa: E402
from tests.ray_cluster import LocalCluster, _free_port  # noqa: E402
from veille.settings import Settings  # noqa: E402

SIZE = (320, 180)
#: Model minutes per hour of typical footage (21 chunks), measured by benchmarks/analysis.py and
#: quoted in the README ("What the models cost"): 2-core CPU (int8) and one H100 (bf16). Not this run.
MODEL_MIN_PER_HOUR = {
    "fast": {"cpu2": 5.4, "gpu": 0.76},
    "default": {"cpu2": 13.0, "gpu": 0.66},
    "full": {"cpu2": 15.1, "gpu": 0.92},
}
CHUNKS_PER_HOUR = 21


def _settings(out: Path) -> Settings:
    return Settings(profile="motion", out_dir=out)


def run_local(videos: list[Path], out: Path) -> tuple[float, list[Any]]:
    """A local batch; its wall time and reports."""
    from veille.batch import run_batch

    started = time.perf_counter()
    batch = run_batch(videos, _settings(out))
    wall = time.perf_counter() - started
    assert not batch.failures, batch.failures
    return wall, batch.items


def run_cluster(videos: list[Path], out: Path, worker_cpus: int) -> dict[str, Any]:
    """The batch on a fresh local cluster whose worker node has ``worker_cpus`` CPUs."""
    from veille.cluster.connect import connected
    from veille.cluster.driver import run_cluster_batch

    temp = Path(tempfile.mkdtemp(prefix="vbench"))
    cluster = LocalCluster(temp, _free_port(), _free_port(), head_cpus=0, worker_cpus=worker_cpus)
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    done: list[Any] = []
    try:
        cluster.start()
        with connected(cluster.address) as ray:
            started = time.perf_counter()
            batch = run_cluster_batch(ray, [str(v) for v in videos], _settings(out),
                                      on_done=lambda item, outcome, folder: done.append(outcome))  # fmt: skip
            wall = time.perf_counter() - started
            assert not batch.failures, [(i.video, i.error) for i in batch.failures]
            round_trip = _round_trip(ray)
    finally:
        cluster.stop()
    return {"wall": wall, "done": done, "round_trip": round_trip}


def _noop(payload: bytes) -> int:
    return len(payload)


def _round_trip(ray: Any, n: int = 30) -> float:
    """Seconds of one empty task, submitted and awaited one after another."""
    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote(b""))
    started = time.perf_counter()
    for _ in range(n):
        ray.get(task.remote(b""))
    return (time.perf_counter() - started) / n


def _analysis_s(out: Path, folder: str) -> float:
    import json

    return float(json.loads((out / folder / "report.json").read_text())["stats"]["analysis_s"])


def long_scan(work: Path, minutes: float) -> tuple[float, float]:
    """A ``minutes``-long clip of the same kind analysed locally: (scan seconds, analysis seconds)."""
    from veille.pipeline import analyze

    (clip,) = write_clips(work / "long", 1, seconds=minutes * 60, size=SIZE)
    report = analyze(clip, _settings(work / "long-out")).report
    return report.stats.scan_s, report.stats.analysis_s


def cost_model(scan_cpu_s_per_hour: float, camera_hours: float) -> list[str]:
    """Cores and GPUs for ``camera_hours`` a day, per profile (extrapolated)."""
    day = 86400.0
    scan_cores = camera_hours * scan_cpu_s_per_hour / day
    lines = [
        f"cost model for {camera_hours:,.0f} camera-hours a day (extrapolated; 24 h of work a day, no idle):",
        f"  scan: {scan_cpu_s_per_hour:.1f} CPU-s per camera-hour (measured here) -> {scan_cores:.2f} cores",
        "  profile  | CPU only: cores (scan + models)   | with GPUs: GPUs (models) + cores (scan)",
    ]
    lines.append(f"  motion   | {scan_cores:8.1f}                          | 0 GPUs + {scan_cores:.1f} cores")
    for profile, cost in MODEL_MIN_PER_HOUR.items():
        cpu_cores = scan_cores + camera_hours * cost["cpu2"] * 60 * 2 / day
        gpus = camera_hours * cost["gpu"] * 60 / day
        per_chunk = cost["cpu2"] * 60 / CHUNKS_PER_HOUR
        lines.append(
            f"  {profile:8} | {cpu_cores:8.1f} ({per_chunk:.0f} s/chunk on 2 cores) "
            f"| {gpus:.2f} GPUs (H100) + {scan_cores:.1f} cores"
        )
    lines.append(
        "  model minutes per camera-hour: README 'What the models cost' (benchmarks/analysis.py: 2-core CPU, "
        "one H100; 21 chunks per typical hour), not measured in this run"
    )
    return lines


def overheads(run: dict[str, Any], out: Path, *, workers: int) -> tuple[float, float, float]:
    """Per video: the task's time beyond its analysis (median, mean: a worker's first task also
    imports veille), and workers x wall beyond the analyses."""
    done = run["done"]
    analyses = [_analysis_s(out, f"cam{d.index:02d}") for d in done]
    extra = [d.task_s - d.analyze_s for d in done]
    return statistics.median(extra), statistics.mean(extra), (workers * run["wall"] - sum(analyses)) / len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each clip")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="the clip the overhead is put against")
    parser.add_argument("--camera-hours", type=float, default=1200.0, help="footage a day for the cost model")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veille-cluster-bench-"))
    try:
        measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path) -> None:
    """Every run of the benchmark, its clips and outputs under ``work``; prints as it goes."""
    videos = write_clips(work / "clips", args.clips, seconds=args.seconds, size=SIZE)
    hours = args.clips * args.seconds / 3600
    print(f"batch: {args.clips} clips x {args.seconds:.0f} s ({hours:.2f} h of footage), {SIZE[0]}x{SIZE[1]}, motion")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the runs")
    local_wall, items = run_local(videos, work / "local")
    analysis = sum(_analysis_s(work / "local", i.folder) for i in items)
    runs = {n: run_cluster(videos, work / f"cluster{n}", n) for n in (1, 2)}
    print("measured:")
    print(f"  local batch (1 process)        wall {local_wall:7.1f} s  {hours * 3600 / local_wall:7.1f} h/h"
          f"  (analysis per video: {analysis / len(items):.2f} s)")  # fmt: skip
    for n, run in runs.items():
        rate = hours * 3600 / run["wall"]
        each = statistics.mean(d.analyze_s for d in run["done"])
        print(f"  cluster, {n} worker CPU{'s' if n > 1 else ' '}        wall {run['wall']:7.1f} s  {rate:7.1f} h/h"
              f"  (analyze() per video in the tasks: {each:.2f} s)")  # fmt: skip
    speedup = runs[1]["wall"] / runs[2]["wall"]
    print(f"  2 workers over 1: {speedup:.2f}x (target >= 1.8x)")
    in_task, mean, whole = overheads(runs[2], work / "cluster2", workers=2)
    print(f"  per-task overhead: in the task {in_task * 1000:.0f} ms median, {mean * 1000:.0f} ms mean "
          "(staging, files back; the mean has each worker's first imports); "
          f"empty-task round trip {runs[2]['round_trip'] * 1000:.0f} ms; "
          f"whole (2 x wall - analyses, per video) {whole * 1000:.0f} ms")  # fmt: skip
    scan_s, long_analysis = long_scan(work, args.long_minutes)
    overhead = in_task + runs[2]["round_trip"]
    share = 100 * overhead / long_analysis
    print(f"  {args.long_minutes:.0f}-min clip, local: scan {scan_s:.2f} s, analysis {long_analysis:.2f} s; "
          f"task overhead {overhead * 1000:.0f} ms = {share:.1f} % of it (target <= 5 %)")  # fmt: skip
    scan_per_hour = analysis / hours
    print("\n".join(cost_model(scan_per_hour, args.camera_hours)))


if __name__ == "__main__":
    main()
