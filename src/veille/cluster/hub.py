"""The run's small shared state on the cluster: how far each video's scan is, and whether to stop.

Tasks tell the :class:`Hub` actor where their scan is (at most twice a second) and learn from the
answer whether the run was cancelled (Ctrl-C at the driver); they then stop as a local run stops on
Ctrl-C, writing a partial report. The driver reads the hub to draw one progress bar for the cluster.
"""

from __future__ import annotations

import time
from typing import Any

#: Least seconds between two reports of one task to the hub.
TICK_EVERY_S = 0.5


class Hub:
    """Progress and cancellation of one run (a Ray actor; see :func:`start_hub`)."""

    def __init__(self) -> None:
        self.cancelled = False
        self.scanned: dict[int, float] = {}
        self.started: dict[int, float] = {}

    def tick(self, index: int, scanned_s: float) -> bool:
        """Video ``index`` is scanned up to ``scanned_s``; whether the run is cancelled."""
        self.started.setdefault(index, time.time())
        self.scanned[index] = scanned_s
        return self.cancelled

    def done(self, index: int) -> None:
        """Video ``index`` is over (its scanned seconds are counted by the driver from then on)."""
        self.scanned.pop(index, None)

    def cancel(self) -> None:
        """Ask every running task to stop."""
        self.cancelled = True

    def snapshot(self) -> tuple[float, list[int]]:
        """Seconds of footage scanned by the videos still running, and which videos have started."""
        return sum(self.scanned.values()), sorted(self.started)


def start_hub(ray: Any) -> Any:
    """The hub actor of a run, on the driver's node, using no CPU slot."""
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(Hub).remote()


class HubProgress:
    """A :class:`~veille.progress.Progress` for a task: scan position to the hub, Ctrl-C from it.

    Warnings are kept (they also go into the report) for the driver to print.
    """

    def __init__(self, hub: Any, index: int) -> None:
        self.hub, self.index = hub, index
        self.warnings: list[str] = []
        self._last = -TICK_EVERY_S
        self._scanned = 0.0
        self._answer: Any = None  # the hub's answer to the last tick, not waited for

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        self._check()

    def update(self, stage: str, done: float) -> None:
        if stage == "scan":
            self._scanned = float(done)
        self._check()

    def finish(self, stage: str) -> None:
        return None

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def _check(self) -> None:
        """Tell the hub where the scan is (at most every TICK_EVERY_S); stop if its last answer says so.

        The analysis never waits for the hub: the answer to one tick is read at the next.
        """
        now = time.monotonic()
        if now - self._last < TICK_EVERY_S:
            return
        self._last = now
        import ray

        if self._answer is not None:
            ready, _ = ray.wait([self._answer], timeout=0)
            if ready and ray.get(self._answer):
                raise KeyboardInterrupt
        self._answer = self.hub.tick.remote(self.index, self._scanned)
