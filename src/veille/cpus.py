"""How many CPUs this process may use: what the decoders size their threads by."""

from __future__ import annotations

import os

#: The CPU share given to this process (a Ray task sets it to the CPUs it was assigned).
ENV = "VEILLE_CPUS"


def available() -> int:
    """The CPUs this process may use: ``VEILLE_CPUS`` when set, else the CPUs it may run on (at least 1).

    A scheduler that gives a process a share of a bigger machine (a Ray task of 1 CPU on a 64-core
    node) says so through ``VEILLE_CPUS``; counting the node's cores would let each such task start
    threads for all of them.
    """
    mine = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        share = int(os.environ.get(ENV, "") or 0)
    except ValueError:
        share = 0
    return max(1, min(mine, share) if share > 0 else mine)
