"""Start-up benchmark: ``veille --help`` and ``python main.py --list-models`` against
``python -c "import transformers"``, run alternately in one session; prints medians and ratios.

    python benchmarks/startup.py [--runs 7]

Target (issue: foundation): start-up at most about a third of the transformers import.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "veille --help": [sys.executable, "-m", "veille", "--help"],
    "main.py --list-models": [sys.executable, str(ROOT / "main.py"), "--list-models"],
    "import transformers": [sys.executable, "-c", "import transformers"],
}


def timed(cmd: list[str]) -> float:
    """Wall time of one run of ``cmd`` (output discarded)."""
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    """Run every command ``--runs`` times, interleaved, and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            times[name].append(timed(cmd))
    base = statistics.median(times["import transformers"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:24s} median {median:6.3f} s   {median / base:5.2f}x the transformers import")


if __name__ == "__main__":
    main()
