"""Endurance: a motion-only analysis of a long synthetic video, with peak memory and time.

Makes a 60-minute and a 6-minute clip (320x180, 10 fps, a block crossing the frame for 20 s every
5 minutes, light sensor noise), analyses each in a fresh process (``veille analyze --profile motion``)
and prints, side by side: wall time, real-time factor and peak RSS, then the ratios 60-min / 6-min
(memory should stay flat while time grows ~10x) and the time of a re-run that resumes from the work
cache. Run: ``python benchmarks/endurance.py [--minutes 60] [--keep DIR] [--scan-mode pixels]``
(``pixels`` decodes every frame: the worst case for time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

W, H, FPS = 320, 180, 10


def make_clip(path: Path, minutes: float) -> None:
    """A quiet street with a block crossing for 20 s every 5 minutes (ultrafast x264, CRF 28)."""
    rng = np.random.default_rng(0)
    base = np.full((H, W, 3), 90, np.uint8)
    base[: H // 3] = 160  # sky
    noise = [rng.integers(-3, 4, (H, W, 1), dtype=np.int16) for _ in range(8)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28", "g": str(4 * FPS)}
        for i in range(int(minutes * 60 * FPS)):
            t = i / FPS
            img = np.clip(base.astype(np.int16) + noise[i % 8], 0, 255).astype(np.uint8)
            phase = t % 300
            if 100 <= phase < 120:
                x = int((phase - 100) / 20 * (W - 30))
                img[H // 2 : H // 2 + 40, x : x + 24] = (235, 235, 225)  # bright: luma must differ
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())


# Runs the CLI and writes its own peak RSS (VmHWM, KiB) to a file at exit. ru_maxrss from wait4
# would not do: Linux carries the parent's peak over fork and exec into the child's figure.
_CHILD = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "    open(sys.argv.pop(1), 'w').write(hwm)\n"
    "atexit.register(_hwm)\n"
    "from veille.cli import main\n"
    "main(sys.argv[2:])\n"
)


def analyse(video: Path, out_dir: Path, scan_mode: str = "auto") -> dict:
    """Run the CLI in a child process; return wall time, peak RSS (MiB) and the report's stats."""
    hwm_file = out_dir / f".{video.stem}.hwm"
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["analyze", str(video), "--profile", "motion", "--out", str(out_dir), "-q"]
    cmd = [sys.executable, "-c", _CHILD, str(hwm_file), *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "VEILLE_SCAN__MODE": scan_mode}, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"analysis of {video} failed")
    report = json.loads((out_dir / video.stem / "report.json").read_text())
    return {"wall_s": wall, "rss_mib": int(hwm_file.read_text()) / 1024, "report": report}


def main() -> None:
    """Make the clips, analyse them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--keep", type=Path, help="keep the clips and reports in this folder")
    parser.add_argument("--scan-mode", choices=["auto", "packets", "pixels"], default="auto", help="scan.mode")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="veille-endurance-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in (args.minutes / 10, args.minutes):
        video = work / f"long{minutes:g}min.mp4"
        started = time.perf_counter()
        if not video.exists():
            make_clip(video, minutes)
        made = time.perf_counter() - started
        result = analyse(video, work / f"out-{args.scan_mode}", args.scan_mode)
        rows.append((minutes, made, result))
        stats = result["report"]["stats"]
        print(
            f"{minutes:5.0f} min video: made in {made:6.1f} s | analysed in {result['wall_s']:6.1f} s "
            f"({minutes * 60 / result['wall_s']:5.1f}x real time) | peak RSS {result['rss_mib']:6.0f} MiB | "
            f"{len(result['report']['segments'])} segments, {stats['frames_decoded']} frames decoded, "
            f"{stats['packets_scanned']} packets scanned"
        )
    (short_min, _, short), (long_min, _, long) = rows
    resumed = analyse(work / f"long{long_min:g}min.mp4", work / f"out-{args.scan_mode}", args.scan_mode)
    print(
        f"ratios {long_min:g}/{short_min:g} min: time {long['wall_s'] / short['wall_s']:.2f}x, "
        f"peak RSS {long['rss_mib'] / short['rss_mib']:.2f}x (flat memory: close to 1)"
    )
    print(
        f"re-run from the work cache: {resumed['wall_s']:.1f} s vs {long['wall_s']:.1f} s fresh "
        f"({long['wall_s'] / resumed['wall_s']:.1f}x faster), reused_chunks="
        f"{resumed['report']['stats']['reused_chunks']}, peak RSS {resumed['rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
