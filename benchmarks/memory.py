"""Peak memory of ``veille analyze`` itself as the input grows longer, its activity growing with it.

Makes synthetic clips with ``veille.sample.make_sample`` (someone crosses the street every 20 s, so
a 60-minute clip holds 60 times the activity of a 1-minute one; 320x180, 10 fps), runs
``python -m veille analyze`` on each in a fresh process and reads the process's own peak RSS
(``VmHWM`` in ``/proc/self/status``, read as it exits): motion-only, and with models (tiny random
checkpoints of the real architectures from ``tests/tiny_models.py``, saved to a folder and given
with ``--vlm/--llm/--grounder``, profile ``full``: describe, ground, judge). Prints each run's peak,
time and events, and each peak's ratio to the shortest input's (the target is at most 1.1).

    python benchmarks/memory.py [--minutes 1 10 60] [--keep DIR] [--no-models] [--no-motion]

With models, the tiny checkpoints still cost seconds per chunk on a CPU: the 60-minute run took 12
minutes on 2 cores, and making its clip 3. ``--keep DIR`` keeps the clips (and checkpoints) for another run.
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

ROOT = Path(__file__).resolve().parents[1]
W, H, FPS = 320, 180, 10

# Runs ``python -m veille ARGS`` and writes its own peak RSS (VmHWM, KiB) to a file at exit. ru_maxrss
# from wait4 would not do: Linux carries the parent's peak over fork and exec into the child's figure.
_CHILD = (
    "import atexit, runpy, sys\n"
    "out = sys.argv.pop(1)\n"
    "def _hwm():\n"
    "    with open('/proc/self/status') as status:\n"
    "        hwm = next(line.split()[1] for line in status if line.startswith('VmHWM'))\n"
    "    with open(out, 'w') as handle:\n"
    "        handle.write(hwm)\n"
    "atexit.register(_hwm)\n"
    "sys.argv[0] = 'veille'\n"
    "runpy.run_module('veille', run_name='__main__', alter_sys=True)\n"
)


def make_clip(folder: Path, minutes: float) -> Path:
    """The synthetic clip of ``minutes`` (made once per folder)."""
    path = folder / f"street-{minutes:g}min.mp4"
    if not path.is_file():
        from veille.sample import make_sample

        started = time.perf_counter()
        make_sample(path, seconds=minutes * 60, width=W, height=H, fps=FPS)
        print(f"made {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def tiny_checkpoints(folder: Path) -> dict[str, Path]:
    """Tiny random SmolVLM (Idefics3), Phi and Kosmos-2 checkpoints saved under ``folder`` (made once)."""
    sys.path.insert(0, str(ROOT))
    from tests.tiny_models import build_idefics3, build_kosmos2, build_phi

    builders = {"vlm": ("idefics3", build_idefics3), "llm": ("phi", build_phi), "grounder": ("kosmos2", build_kosmos2)}
    out = {}
    for role, (name, build) in builders.items():
        path = folder / name
        if not (path / "config.json").is_file():
            build(path)
        out[role] = path
    return out


def analyze(video: Path, out: Path, extra: list[str]) -> dict:
    """Run ``veille analyze`` in a fresh process: its peak RSS (MiB), wall time, events and chunks."""
    hwm_file = out / "vmhwm.txt"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    cmd = [sys.executable, "-c", _CHILD, str(hwm_file), "analyze", str(video), "--out", str(out), "-q", *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"veille analyze failed on {video.name}:\n{done.stderr[-2000:]}")
    report = json.loads((out / video.stem / "report.json").read_text())
    return {
        "peak_mib": int(hwm_file.read_text()) / 1024,
        "wall_s": wall,
        "events": len(report["events"]),
        "vlm_calls": report["stats"]["vlm_calls"],
        "warnings": report["warnings"],
    }


def run(minutes: list[float], folder: Path, variants: dict[str, list[str]]) -> None:
    clips = {m: make_clip(folder, m) for m in minutes}
    for name, extra in variants.items():
        print(f"\n{name}:", flush=True)
        print(f"{'input':>8} {'events':>7} {'VLM calls':>9} {'time':>8} {'peak RSS':>10} {'ratio':>6}")
        base = None
        for m in minutes:
            with tempfile.TemporaryDirectory(prefix="veille-mem-") as out:
                result = analyze(clips[m], Path(out), extra)
            base = base or result["peak_mib"]
            print(
                f"{m:>6g} m {result['events']:>7} {result['vlm_calls']:>9} {result['wall_s']:>7.1f}s "
                f"{result['peak_mib']:>7.1f} MiB {result['peak_mib'] / base:>5.2f}x",
                flush=True,
            )
            for warning in result["warnings"][:3]:
                print(f"           warning: {warning[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--keep", type=Path, help="Folder for the clips and checkpoints (kept).")
    parser.add_argument("--no-models", action="store_true", help="Only the motion-only runs.")
    parser.add_argument("--no-motion", action="store_true", help="Only the runs with models.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veille-mem-clips-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        variants: dict[str, list[str]] = {}
        if not args.no_motion:
            variants["motion only (--profile motion)"] = ["--profile", "motion"]
        if not args.no_models:
            tiny = tiny_checkpoints(folder / "tiny-models")
            models = ["--vlm", str(tiny["vlm"]), "--llm", str(tiny["llm"]), "--grounder", str(tiny["grounder"])]
            variants["with models (--profile full, tiny checkpoints)"] = ["--profile", "full", *models]
        run(sorted(args.minutes), folder, variants)


if __name__ == "__main__":
    main()
