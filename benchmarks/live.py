"""Live benchmark: ``veille watch --profile motion`` on a real RTSP server (GStreamer) with a real MQTT broker.

Three figures, each against its target:

* **alert latency**: from the moment a person starts crossing in the stream (the server says when
  the clip's t = 0 went out; the clip's ground truth says when the crossing starts) to the MQTT
  ``started`` message arriving at a subscriber — 720p, 15 fps, one crossing every 20 s. Target ≤ 2 s.
* **CPU per quiet camera**: the watch process's CPU time over wall time, on a quiet 720p/15 fps
  stream (sensor noise and light drift only), after a 30-s warm-up. Target ≤ 15 % of one core.
* **memory**: RSS of the watch process sampled every 10 s over the run; growth from the end of
  the warm-up to the end. Target ≤ 5 %.

    python benchmarks/live.py [--minutes 10] [--latency-minutes 1] [--json OUT.json]

Needs the system packages of the live tests (see ``.ci/run``). Clips are built in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_servers import (  # noqa: E402
    Mosquitto,
    RtspServer,
    Subscriber,
    free_port,
    missing_servers,
    watch_command,
    watch_env,
)
from veille.sample import make_sample  # noqa: E402
from veille.video.synth import Stretch, scene, write_video  # noqa: E402

WIDTH, HEIGHT, FPS = 1280, 720, 15
WARMUP_S = 30.0


def repeat_clip(src: Path, dst: Path, times: int) -> None:
    """``src`` played ``times`` times in a row, by copying packets (timestamps shifted; no re-encoding)."""
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        packets = [p for p in inp.demux(stream) if p.size and p.pts is not None]
        length = max(p.pts for p in packets) + round(1 / FPS / stream.time_base)
        with av.open(str(dst), "w", format="mp4") as out:
            ost = out.add_stream_from_template(stream)
            for n in range(times):
                for packet in packets:
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts = packet.pts + n * length, packet.dts + n * length
                    copy.time_base, copy.is_keyframe, copy.stream = packet.time_base, packet.is_keyframe, ost
                    out.mux(copy)


def build_clips(folder: Path, minutes: float, latency_minutes: float) -> tuple[Path, dict, Path]:
    """The active clip (and its truth) and the quiet clip covering ``minutes``."""
    active = folder / "active.mp4"
    truth = make_sample(active, seconds=max(30.0, latency_minutes * 60), width=WIDTH, height=HEIGHT, fps=FPS)
    unit = folder / "quiet-unit.mp4"
    write_video(unit, [Stretch(60 * FPS)], scene(WIDTH, HEIGHT), fps=FPS, encoding="vbr-ip")
    quiet = folder / "quiet.mp4"
    repeat_clip(unit, quiet, max(1, int(minutes + 1.999)))
    return active, truth, quiet


def latency(active: Path, truth: dict, folder: Path) -> list[float]:
    """Seconds from each crossing's start in the stream to its MQTT ``started`` message."""
    out = folder / "out-latency"
    with Mosquitto(folder) as broker, RtspServer(active, free_port()) as server:
        sub = Subscriber(broker.port)
        proc = subprocess.Popen(
            watch_command(server.url(), "--camera", "bench", "--out", str(out), "--mqtt",
                          f"mqtt://127.0.0.1:{broker.port}"),
            env=watch_env(VEILLE_WATCH__QUIET_S="2", VEILLE_WATCH__RULES__COOLDOWN_S="0"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            time.sleep(truth["duration_s"] + 8)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        sub.close()
        played = server.played[0]
    onsets = [a for a, _ in truth["active_intervals"]]
    delays = []
    for onset in onsets:
        wall = played + onset
        later = [t for t, _ in sub.events("started") if t >= wall - 1.0]
        delays.append(min(later) - wall if later else float("inf"))
    return delays


def endurance(quiet: Path, minutes: float, folder: Path) -> dict:
    """CPU share and RSS of ``veille watch`` on the quiet stream for ``minutes``."""
    with RtspServer(quiet, free_port()) as server:
        proc = subprocess.Popen(
            watch_command(server.url(), "--camera", "quiet", "--out", str(folder / "out-quiet")),
            env=watch_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        watched = psutil.Process(proc.pid)
        start = time.monotonic()
        samples: list[tuple[float, float, int]] = []  # (wall, cpu seconds, rss)
        try:
            while time.monotonic() - start < minutes * 60:
                time.sleep(10)
                cpu = watched.cpu_times()
                samples.append((time.monotonic() - start, cpu.user + cpu.system, watched.memory_info().rss))
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    after = [s for s in samples if s[0] >= WARMUP_S] or samples
    first, last = after[0], after[-1]
    share = (last[1] - first[1]) / max(1e-9, last[0] - first[0])
    return {
        "cpu_share": share,
        "rss_start_mb": first[2] / 2**20,
        "rss_end_mb": last[2] / 2**20,
        "rss_max_mb": max(s[2] for s in after) / 2**20,
        "rss_growth": (last[2] - first[2]) / first[2],
        "measured_s": last[0] - first[0],
        "exit_code": proc.returncode,
        "errors": [line for line in err.splitlines() if "error" in line.lower()][:5],
    }


def main() -> None:
    """Build the clips, run both phases, print the figures against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the quiet-camera run")
    parser.add_argument("--latency-minutes", type=float, default=1.0, help="length of the active clip")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    why = missing_servers()
    if why:
        sys.exit(f"live benchmark: {why}; install the packages .ci/run installs")
    with tempfile.TemporaryDirectory(prefix="veille-live-") as tmp:
        folder = Path(tmp)
        t0 = time.monotonic()
        active, truth, quiet = build_clips(folder, args.minutes, args.latency_minutes)
        print(f"clips built in {time.monotonic() - t0:.0f} s: {WIDTH}x{HEIGHT} at {FPS} fps", flush=True)
        delays = latency(active, truth, folder)
        finite = [d for d in delays if d != float("inf")]
        print(f"alert latency over {len(delays)} crossings: median {statistics.median(delays):.2f} s,"
              f" max {max(delays):.2f} s, missed {len(delays) - len(finite)} (target <= 2 s)", flush=True)
        figures = endurance(quiet, args.minutes, folder)
    print(f"quiet 720p/15 fps camera: CPU {figures['cpu_share']:.1%} of one core over"
          f" {figures['measured_s'] / 60:.1f} min after a {WARMUP_S:.0f}-s warm-up (target <= 15 %)")
    print(f"RSS {figures['rss_start_mb']:.0f} MB -> {figures['rss_end_mb']:.0f} MB"
          f" (growth {figures['rss_growth']:+.1%}, max {figures['rss_max_mb']:.0f} MB; target <= 5 %);"
          f" SIGTERM exit code {figures['exit_code']}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = {"latency_s": delays, "cpus": cpus, **figures}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
