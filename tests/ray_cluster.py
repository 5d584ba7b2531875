"""A real two-node Ray cluster on 127.0.0.1 for the cluster tests: a head and one worker node.

Started with ``ray start`` in a temp folder of its own, with free ports; stopped by killing, by pid,
the processes of this cluster only (those naming its temp folder or its ports, and their children),
so another Ray on the machine is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_env() -> dict[str, str]:
    """This checkout's sources first (the nodes' workers import veille from here), no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEILLE_", "RAY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["RAY_AUTH_MODE"] = "disabled"  # loopback only; else a token left by an earlier local Ray turns it on
    return env


@dataclass
class LocalCluster:
    """A head node and one worker node, and how to reach them."""

    temp_dir: Path
    gcs_port: int
    client_port: int
    head_cpus: int
    worker_cpus: int
    env: dict[str, str] = field(default_factory=ray_env)

    @property
    def address(self) -> str:
        """The ``--cluster`` value that joins this cluster."""
        return f"ray://127.0.0.1:{self.client_port}"

    def _ray(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "ray.scripts.scripts", *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=180, cwd=self.temp_dir)
        if proc.returncode != 0:
            raise RuntimeError(f"ray {args[0]} failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")

    def start(self) -> LocalCluster:
        """``ray start --head`` then ``ray start --address`` for the worker node."""
        common = ["--object-store-memory=80000000", "--disable-usage-stats"]
        self._ray(
            "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.gcs_port}",
            f"--ray-client-server-port={self.client_port}", f"--num-cpus={self.head_cpus}",
            "--include-dashboard=false", f"--temp-dir={self.temp_dir}", *common,
        )  # fmt: skip
        self._ray("start", f"--address=127.0.0.1:{self.gcs_port}", f"--num-cpus={self.worker_cpus}", *common)
        return self

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: those naming its temp folder or ports, and their children."""
        marks = (str(self.temp_dir), f":{self.gcs_port}", f"={self.client_port}")
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["cmdline"]):
            args = " ".join(proc.info["cmdline"] or [])
            if proc.pid != os.getpid() and any(m in args for m in marks) and "pytest" not in args:
                found[proc.pid] = proc
        for proc in list(found.values()):
            with contextlib.suppress(psutil.Error):
                found.update({c.pid: c for c in proc.children(recursive=True) if c.pid != os.getpid()})
        return list(found.values())

    def running(self, title: str) -> list[psutil.Process]:
        """The cluster's worker processes whose title starts with ``title`` (e.g. ``ray::analyze_video``)."""
        out = []
        for proc in self.processes():
            try:
                if " ".join(proc.cmdline()).startswith(title):
                    out.append(proc)
            except psutil.Error:
                pass
        return out

    def stop(self) -> None:
        """Kill this cluster's processes by pid, then remove its temp folder."""
        procs = self.processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def local_cluster(head_cpus: int = 1, worker_cpus: int = 2) -> Iterator[LocalCluster]:
    """A started cluster (a fixture's body); stopped afterwards whatever happened."""
    temp = Path(tempfile.mkdtemp(prefix="vray"))  # short: Ray's socket paths must stay under 108 bytes
    cluster = LocalCluster(temp, _free_port(), _free_port(), head_cpus, worker_cpus)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def kill_first(cluster: LocalCluster, title: str, *, timeout_s: float = 120.0) -> int:
    """SIGKILL the first process of ``cluster`` titled ``title`` as soon as one runs; its pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in cluster.running(title):
            proc.kill()
            return proc.pid
        time.sleep(0.05)
    raise AssertionError(f"no {title} process ran within {timeout_s:.0f} s")
