"""What the command line prints: progress, results, warnings and errors.

Plain lines when output is not a terminal; nothing but errors with ``quiet``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from veille.pipeline import AnalysisResult

THREAT = {0: "normal", 1: "suspicious", 2: "critical"}


class _PlainProgress:
    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        self.console.info(f"{stage}…")

    def update(self, stage: str, done: float) -> None:
        return None

    def finish(self, stage: str) -> None:
        return None

    def warn(self, message: str) -> None:
        self.console.warn(message)


class Console:
    """Prints for the CLI; the library itself never prints."""

    def __init__(self, *, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self.is_tty = sys.stdout.isatty()

    def progress(self) -> _PlainProgress:
        """A progress receiver for one analysis."""
        return _PlainProgress(self)

    def info(self, message: str) -> None:
        """A line shown with ``--verbose``."""
        if self.verbose:
            click.echo(message, err=True)

    def warn(self, message: str) -> None:
        """A warning on stderr (hidden with ``--quiet``)."""
        if not self.quiet:
            click.echo(f"veille: warning: {message}", err=True)

    def error(self, message: str) -> None:
        """An error on stderr (always shown)."""
        click.echo(f"veille: error: {message}", err=True)

    def result(self, result: AnalysisResult) -> None:
        """The events of a finished analysis and where its report is."""
        if self.quiet:
            return
        report = result.report
        click.echo(f"{report.video.path}: {len(report.events)} event(s) in {report.video.duration_s:.0f} s")
        for event in report.events:
            click.echo(
                f"  {_clock(event.start_s)}–{_clock(event.end_s)}  [{THREAT[event.threat_level]}]  {event.title}"
            )
        click.echo(f"report: {Path(result.folder) / 'report.json'}")

    def failures(self, failures: list[tuple[Path, str]], total: int) -> None:
        """The closing summary naming every input that failed."""
        click.echo(f"veille: {len(failures)} of {total} input(s) failed:", err=True)
        for path, message in failures:
            click.echo(f"  {path}: {message}", err=True)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"
