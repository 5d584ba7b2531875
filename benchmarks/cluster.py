"""Scale-out benchmark: the same batch of short clips (motion profile) as a local batch and on a local
Ray cluster (a head with no CPU for tasks plus one worker node of 1, then 2 CPUs), then a cost model.

The worker node of each cluster run (its raylet and every worker process, which inherit it) is pinned
by CPU affinity to exactly as many cores as it has CPUs: one machine stands in for worker nodes with
dedicated cores. (Unpinned, "1 worker CPU" is not one core: a scan decodes on a second thread and uses
~1.4 cores when they are free.) The benchmark reads the affinity back, from inside tasks and from the
node's processes, and prints it. The head and the driver are pinned to the cores left over when there
are any (3 or more cores), else left unpinned (on 2 cores they share the worker cores of the 2-core
run; their CPU time is printed). The local batch is not pinned: it runs as a user runs it.

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
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

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


def _pin(cores: tuple[int, ...]) -> Callable[[], None] | None:
    """A ``preexec_fn`` that puts the child (and all it starts) on ``cores``; None: unpinned."""
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


@dataclass
class PinnedCluster(LocalCluster):
    """A :class:`LocalCluster` whose worker node runs on ``worker_cores`` and head on ``head_cores``
    (empty: unpinned); ``ray start`` is run under that affinity, which its daemons and workers inherit."""

    worker_cores: tuple[int, ...] = ()
    head_cores: tuple[int, ...] = ()
    node_pids: set[int] = field(default_factory=set)

    def _ray(self, *args: str) -> None:
        head = "--head" in args
        before = set() if head else {p.pid for p in self.processes()}
        cmd = [sys.executable, "-m", "ray.scripts.scripts", *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=180, cwd=self.temp_dir,
                              preexec_fn=_pin(self.head_cores if head else self.worker_cores))  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"ray {args[0]} failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
        if not head:
            self.node_pids = {p.pid for p in self.processes()} - before

    def worker_node(self) -> list[psutil.Process]:
        """The worker node's processes: those its ``ray start`` left running, and their children."""
        found: dict[int, psutil.Process] = {}
        for pid in self.node_pids:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                found.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        return list(found.values())


def core_plan(available: list[int], most: int) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...]]:
    """The worker node's cores for 1..``most`` CPUs (the last n of ``available``), and the cores left
    for the head and the driver in every run (empty when the largest run takes them all)."""
    if len(available) < most:
        raise SystemExit(f"{most} worker CPUs need {most} cores; this process may use {len(available)}")
    cores = sorted(available)
    return {n: tuple(cores[-n:]) for n in range(1, most + 1)}, tuple(cores[: len(cores) - most])


class NotStarted(Exception):
    """The cluster did not start, or did not take the driver's connection (nothing of the batch ran)."""


def run_cluster(videos: list[Path], out: Path, cores: tuple[int, ...], rest: tuple[int, ...]) -> dict[str, Any]:
    """The batch on a fresh local cluster whose worker node has one CPU per core of ``cores`` and runs
    on them alone; the head and this driver on ``rest`` (empty: unpinned). Started again once when a
    node misses Ray's startup deadline (30 s, which one core shared with a busy machine can miss) or
    the head's client server fails to start."""
    tries, own = 2, os.sched_getaffinity(0)
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        if rest:
            os.sched_setaffinity(0, rest)
        for attempt in range(1, tries + 1):
            try:
                return _run_cluster(videos, out, cores, rest)
            except NotStarted as exc:
                if attempt == tries:
                    raise SystemExit(f"the cluster did not start {tries} times: {exc}") from None
                print(f"  (the cluster did not start, starting it again: {exc})")
        raise AssertionError("unreachable")
    finally:
        os.sched_setaffinity(0, own)


def _run_cluster(videos: list[Path], out: Path, cores: tuple[int, ...], rest: tuple[int, ...]) -> dict[str, Any]:
    from veille.cluster.connect import ClusterError, connected
    from veille.cluster.driver import run_cluster_batch

    cluster = PinnedCluster(Path(tempfile.mkdtemp(prefix="vbench")), _free_port(), _free_port(), head_cpus=0,
                            worker_cpus=len(cores), worker_cores=cores, head_cores=rest)  # fmt: skip
    done: list[Any] = []
    with contextlib.ExitStack() as stack:
        stack.callback(cluster.stop)
        try:
            cluster.start()
            ray = stack.enter_context(connected(cluster.address))
        except (RuntimeError, ClusterError) as exc:
            raise NotStarted(str(exc).strip().splitlines()[-1]) from None
        before = _cpu_s(_outside(cluster))
        started = time.perf_counter()
        batch = run_cluster_batch(ray, [str(v) for v in videos], _settings(out),
                                  on_done=lambda item, outcome, folder: done.append(outcome))  # fmt: skip
        wall = time.perf_counter() - started
        outside = sum(cpu - before.get(pid, 0.0) for pid, cpu in _cpu_s(_outside(cluster)).items())
        assert not batch.failures, [(i.video, i.error) for i in batch.failures]
        round_trip = _round_trip(ray)
        pinning = check_pinning(ray, cluster, cores)
    return {"wall": wall, "done": done, "round_trip": round_trip, "outside_cpu_s": outside, "pinning": pinning}


def _outside(cluster: PinnedCluster) -> list[psutil.Process]:
    """The processes outside the worker node: the head's, and this one (the Ray client of the driver)."""
    node = {p.pid for p in cluster.worker_node()}
    return [p for p in cluster.processes() if p.pid not in node] + [psutil.Process()]


def _affinity_of(proc: psutil.Process) -> list[int] | None:
    try:
        return sorted(proc.cpu_affinity() or [])
    except psutil.Error:
        return None


def _cpu_s(procs: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) of each process still there, by pid."""
    out = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
    return out


def _task_affinity() -> tuple[int, list[int]]:
    return os.getpid(), sorted(os.sched_getaffinity(0))


def check_pinning(ray: Any, cluster: PinnedCluster, cores: tuple[int, ...]) -> list[str]:
    """The affinity read back: from inside 1-CPU tasks (every one must see exactly ``cores``) and of
    each of the cluster's processes (grouped by cores); lines to print."""
    probe = ray.remote(num_cpus=1)(_task_affinity)
    seen = dict(ray.get([probe.remote() for _ in range(4 * len(cores))]))
    wrong = {pid: found for pid, found in seen.items() if found != sorted(cores)}
    if wrong:
        raise SystemExit(f"tasks ran outside the worker node's cores {list(cores)}: {wrong}")
    node = cluster.worker_node()
    node_pids = {p.pid for p in node}
    loose = [p.pid for p in node if _affinity_of(p) not in (None, sorted(cores))]
    if loose or not node:
        raise SystemExit(f"the worker node's processes are not all on cores {list(cores)}: {loose or 'none found'}")
    groups: dict[str, dict[str, int]] = {}
    for where, procs in (("worker node", node), ("head", [p for p in cluster.processes() if p.pid not in node_pids])):
        for proc in procs:
            with contextlib.suppress(psutil.Error, IndexError):
                name = _name(" ".join(proc.cmdline()).split())
                names = groups.setdefault(f"{where}, cores {_affinity_of(proc)}", {})
                names[name] = names.get(name, 0) + 1
    processes = f"{len(seen)} worker process{'es' if len(seen) > 1 else ''}"
    lines = [f"read back: {4 * len(cores)} tasks saw cores {sorted(cores)} (in {processes}); "
             "the cluster's processes by node and cores:"]
    for label, names in sorted(groups.items()):
        lines.append(f"{label}: " + ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(names.items())))
    return lines


def _name(words: list[str]) -> str:
    """A process's short name from its command line: the program, or the script or module Python runs."""
    if "python" not in Path(words[0]).name:
        return Path(words[0]).name
    args = iter(words[1:])
    for word in args:
        if word == "-m":
            return next(args)
        if not word.startswith("-"):
            return Path(word).name
    return Path(words[0]).name


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
    plan, rest = core_plan(sorted(os.sched_getaffinity(0)), 2)
    head = f"pinned to cores {list(rest)}" if rest else "not pinned (no core is left: they share the 2-core run's)"
    print("pinning: each cluster run's worker node (its raylet and every worker process) runs on exactly as many "
          "cores as it has CPUs (CPU affinity, read back below): one machine standing in for worker nodes with "
          f"dedicated cores. The head and the driver are {head}. The local batch is not pinned (run as a user "
          "runs it).")  # fmt: skip
    local_wall, items = run_local(videos, work / "local")
    analysis = sum(_analysis_s(work / "local", i.folder) for i in items)
    runs = {n: run_cluster(videos, work / f"cluster{n}", plan[n], rest) for n in plan}
    print("measured:")
    print(f"  local batch (1 process, not pinned)      wall {local_wall:7.1f} s  {hours * 3600 / local_wall:7.1f} h/h"
          f"  (analysis per video: {analysis / len(items):.2f} s)")  # fmt: skip
    for n, run in runs.items():
        rate = hours * 3600 / run["wall"]
        each = statistics.mean(d.analyze_s for d in run["done"])
        where = f"{n} worker CPU{'s' if n > 1 else ''} on core{'s' if n > 1 else ''} {','.join(map(str, plan[n]))}"
        print(f"  cluster, {where:29} wall {run['wall']:7.1f} s  {rate:7.1f} h/h"
              f"  (analyze() per video in the tasks: {each:.2f} s; head + driver used {run['outside_cpu_s']:.1f} "
              "CPU-s)")  # fmt: skip
        print("\n".join(f"      {line}" for line in run["pinning"]))
    speedup = runs[1]["wall"] / runs[2]["wall"]
    print(f"  2 worker cores over 1 (both pinned): {speedup:.2f}x (target >= 1.8x)")
    if not rest:
        share = 100 * runs[2]["outside_cpu_s"] / (2 * runs[2]["wall"])
        print(f"    (the head and driver took {share:.1f} % of the 2 cores' time in the 2-core run; in the 1-core "
              "run they had the other core to themselves)")  # fmt: skip
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
