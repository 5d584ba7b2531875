"""One progress bar for the whole cluster: videos done of the total, hours of footage per hour."""

from __future__ import annotations

from typing import Any

from veille.cluster.driver import Tally


class ClusterBar:
    """The bar on a terminal (nothing otherwise; each finished video still prints its line)."""

    def __init__(self, console: Any, total: int) -> None:
        self.console = console
        self._bars: Any = None
        self._task: Any = None
        if console.is_tty and not console.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bars = Progress(
                TextColumn("cluster"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} videos"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=console.rich_err,
            )
            self._task = self._bars.add_task("cluster", total=total, rate="")
            self._bars.start()

    def tick(self, tally: Tally, running_s: float) -> None:
        """Redraw with the videos done and the footage analysed (finished videos plus scans under way)."""
        if self._bars is not None:
            rate = f"{rate_text(tally.hours_per_hour(running_s))} of footage per hour"
            self._bars.update(self._task, completed=tally.done, rate=rate)

    def print(self, message: str) -> None:
        """A line above the bar."""
        if self._bars is not None:
            self._bars.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        """Stop drawing (the last state stays on screen)."""
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def rate_text(hours_per_hour: float) -> str:
    """``"12.5 h"`` with a sensible number of digits."""
    return f"{hours_per_hour:.1f} h" if hours_per_hour < 100 else f"{hours_per_hour:.0f} h"
