"""Memory and load time of each catalog model on the real path: ``veille analyze`` on the CPU, int8.

For each model, a full-size random-weight twin is written in the dtype its repository ships
(``benchmarks/twins.py``), then ``veille analyze CLIP --vlm/--llm/--grounder TWIN`` runs in a child
process twice: with an empty int8 cache (the first load quantizes) and again (the cached load). The
child's resident memory (the sum over its process tree) is sampled from ``/proc`` every 0.25 s;
the load time is read from ``--verbose``'s log lines. A reasoner or grounder twin is measured
with the tiny test describer beside it (they work on the describer's descriptions). ``--profiles``
also runs whole profiles (``motion``: no model, the baseline; ``fast``: SmolVLM-256M + Phi-2;
``default``: SmolVLM-Instruct + Phi-2; ``full``: + Kosmos-2). At the end it prints the figures the
catalog keeps (``veille.models.catalog``): the baseline and each model's peak (the larger of its
first and cached loads, rounded up to 0.1 GiB), and each whole profile's.

Run:  python benchmarks/load.py [--models phi-2,smolvlm-256m] [--profiles fast] [--video CLIP] [--work DIR]

Twins go to a temporary folder (``--work``, default: the system's temp dir), never into the
repository, and are deleted at the end (``--keep`` keeps them). Results also go to
``WORK/load-results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "benchmarks")]

GIB = 1 << 30
ROLE_FLAG = {"phi-2": "--llm", "smolvlm-256m": "--vlm", "smolvlm": "--vlm", "kosmos-2": "--grounder"}
PROFILE_MODELS: dict[str, tuple[str, ...]] = {
    "motion": (),
    "fast": ("smolvlm-256m", "phi-2"),
    "default": ("smolvlm", "phi-2"),
    "full": ("smolvlm", "phi-2", "kosmos-2"),
}
MIN_AVAILABLE = {"phi-2": 10 * GIB, "smolvlm": 9 * GIB, "kosmos-2": 10 * GIB, "smolvlm-256m": 3 * GIB}
LOADED = re.compile(r"loaded (\w+) (.+?) on \w+ .* in ([\d.]+) s")
INT8 = re.compile(r"in int8 \((.+?)\) in ([\d.]+) s, ([\d.]+) s of CPU")


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc; 0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def run_analyze(clip: Path, models: dict[str, Path], work: Path, cache: Path, profile: str) -> dict[str, Any]:
    """One ``veille analyze`` with the given twins; peak memory, wall and CPU time, load lines.

    Without a describer twin the tiny test describer describes the chunks (the reasoner and the
    grounder work on descriptions; the tiny model adds a few MB).
    """
    out = work / "reports"
    shutil.rmtree(out, ignore_errors=True)
    describer = str(work / "tiny" / "idefics3") if models else "none"  # motion: no model at all
    flags = {"--vlm": describer, "--llm": "none", "--grounder": "none"}
    for name, path in models.items():
        flags[ROLE_FLAG[name]] = str(path)
    cmd = [sys.executable, "-m", "veille", "analyze", str(clip), "--profile", profile, "--device", "cpu"]
    cmd += [a for pair in flags.items() for a in pair] + ["--out", str(out), "--verbose", "--offline"]
    cmd += ["--no-memory-check"]  # the twins are folders: never checked, and this measures what it would check
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "VEILLE_INT8_CACHE_DIR": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peak, samples, lines = [0], [], []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    while proc.poll() is None:
        rss = tree_rss(proc.pid)
        peak[0] = max(peak[0], rss)
        samples.append((round(time.perf_counter() - started, 2), rss))
        time.sleep(0.25)
    reader.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = "".join(lines)
    if proc.returncode != 0:
        raise SystemExit(f"veille analyze failed ({proc.returncode}):\n{text[-3000:]}")
    loads = [{"role": m[1], "model": m[2], "seconds": float(m[3])} for m in LOADED.finditer(text)]
    int8 = [{"origin": m[1], "seconds": float(m[2]), "cpu": float(m[3])} for m in INT8.finditer(text)]
    return {
        "peak_rss": peak[0],
        "wall": time.perf_counter() - started,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "loads": loads,
        "int8": int8,
        "samples": samples,
        "load_average": os.getloadavg()[0],
        "report": json.loads((out / clip.stem / "report.json").read_text())["models"],
    }


def ensure_memory(names: list[str]) -> None:
    """Stop before a run that this machine's available memory cannot take."""
    import psutil

    need = max((MIN_AVAILABLE[n] for n in names), default=GIB)
    available = psutil.virtual_memory().available
    if available < need:
        raise SystemExit(f"only {available / GIB:.1f} GiB available, {need / GIB:.0f} GiB needed for {names}; stopping")


def measure(label: str, clip: Path, twins: dict[str, Path], work: Path, profile: str) -> list[dict[str, Any]]:
    """First load (empty int8 cache) then cached load of ``twins`` in one analysis each."""
    cache = work / "int8"
    shutil.rmtree(cache, ignore_errors=True)
    rows = []
    for state in ("first load", "cached load"):
        ensure_memory(list(twins))
        result = run_analyze(clip, twins, work, cache, profile)
        rows.append({"label": label, "state": state, **result})
        print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row: dict[str, Any]) -> str:
    """One line of the table."""
    loads = ", ".join(f"{x['role']} {x['seconds']:.1f} s" for x in row["loads"]) or "-"
    cpu = ", ".join(f"{x['cpu']:.0f} s CPU" for x in row["int8"])
    return (
        f"| {row['label']} | {row['state']} | {row['peak_rss'] / GIB:.2f} GiB | {loads} ({cpu}) "
        f"| {row['wall']:.0f} s | {row['cpu']:.0f} s | {row['load_average']:.1f} |"
    )


def catalog_figures(rows: list[dict[str, Any]]) -> str:
    """The figures ``veille.models.catalog`` keeps: per model or profile, the larger peak of its runs, rounded up."""
    peaks: dict[str, int] = {}
    for row in rows:
        peaks[row["label"]] = max(peaks.get(row["label"], 0), row["peak_rss"])
    return "\n".join(f"{label}: {math.ceil(peak * 10 / GIB) / 10:.1f} GiB" for label, peak in peaks.items())


def main() -> None:
    """Build each twin, measure, print the table; twins deleted at the end unless ``--keep``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="phi-2,smolvlm-256m")
    parser.add_argument("--profiles", default="", help="e.g. fast,default (their models are built too)")
    parser.add_argument("--video", type=Path)
    parser.add_argument("--work", type=Path, help="folder for twins and reports (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the twins (a later run with --work reuses them)")
    args = parser.parse_args()
    from twins import build_twin, twin_bytes

    from tests.tiny_models import build_all
    from veille.sample import make_sample

    work = args.work or Path(tempfile.mkdtemp(prefix="veille-load-"))
    work.mkdir(parents=True, exist_ok=True)
    if str(work.resolve()).startswith(str(ROOT)):
        raise SystemExit("--work must be outside the repository")
    names = [n for n in args.models.split(",") if n]
    profiles = [p for p in args.profiles.split(",") if p]
    needed = list(dict.fromkeys(names + [m for p in profiles for m in PROFILE_MODELS[p]]))
    clip = args.video or work / "sample.mp4"
    if args.video is None and not clip.is_file():
        make_sample(clip, seconds=30)
    tiny = work / "tiny"
    if not (tiny / "idefics3" / "config.json").is_file():
        build_all(tiny)
    rows: list[dict[str, Any]] = []
    twins: dict[str, Path] = {}
    print("| model / profile | load | peak RSS | load time (int8 loader's CPU) | analysis wall | CPU | load avg |")
    print("|---|---|---|---|---|---|---|")
    try:
        for name in needed:
            done = work / name / ".complete"
            if not done.is_file():  # a twin left by an earlier run with --keep is used again
                build_twin(name, tiny, work / name)
                done.touch()
            twins[name] = work / name
            print(f"<!-- twin {name}: {twin_bytes(twins[name]) / 1e9:.2f} GB -->", flush=True)
            if name in names:
                rows += measure(name, clip, {name: twins[name]}, work, "fast")
        for profile in profiles:
            rows += measure(f"`{profile}`", clip, {m: twins[m] for m in PROFILE_MODELS[profile]}, work, profile)
        print(catalog_figures(rows))
    finally:
        (work / "load-results.json").write_text(json.dumps(rows, indent=1))
        print(f"results: {work / 'load-results.json'}")
        if not args.keep:
            for path in twins.values():
                shutil.rmtree(path, ignore_errors=True)
            shutil.rmtree(work / "int8", ignore_errors=True)


if __name__ == "__main__":
    main()
