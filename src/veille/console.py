"""What the command line prints: progress, results, warnings and errors.

On a terminal: rich progress bars for each stage (scan, describe, reason…) and a closing table of
events. Not on a terminal: plain lines only. With ``quiet``: nothing but errors. Strings from models
and file names are printed literally (never read as rich markup).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from veille.i18n import batch_done, clock, count, events_found, labels, stage_label, threat_label

if TYPE_CHECKING:
    from veille.pipeline import AnalysisResult

THREAT_STYLES = {0: "green", 1: "yellow", 2: "bold red"}


def _amount(done: float, total: float | None, unit: str) -> str:
    def one(value: float) -> str:
        if unit == "s":
            return clock(value)
        if unit == "B":
            from veille.models.progress import human_bytes

            return human_bytes(value)
        return f"{value:.0f}"

    return f"{one(done)}/{one(total)}" if total else one(done)


class _PlainProgress:
    """Stage lines for logs and pipes (shown with ``--verbose``); warnings always."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        kind, _, rest = stage.partition(" ")
        self.console.info(f"{stage_label(kind, self.console.lang)} {rest}".strip() + "…")

    def update(self, stage: str, done: float) -> None:
        return None

    def finish(self, stage: str) -> None:
        return None

    def warn(self, message: str) -> None:
        self.console.warn(message)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else clock(value)


def _elapsed_column(lang: str) -> Any:
    """A rich column with the stage's time, labelled: "elapsed 3.2 s" while it runs, "took 4.0 s" after."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    words = labels(lang)

    class Elapsed(ProgressColumn):
        def render(self, task: Any) -> Text:
            seconds = task.finished_time if task.finished else task.elapsed
            word = words["took"] if task.finished else words["elapsed"]
            return Text(f"{word} {_seconds(seconds or 0.0)}", style="progress.elapsed")

    return Elapsed()


class _RichProgress:
    """Rich bars on a terminal: one per stage, the live display runs while any stage is open."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._units: dict[str, tuple[float | None, str]] = {}

    @property
    def live(self) -> bool:
        """Whether the live display is running (some stage is still open)."""
        return self._bars is not None

    def _new_bars(self) -> Any:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        return Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[amount]}", markup=False),
            _elapsed_column(self.console.lang),
            console=self.console.rich_err,
            transient=False,
        )

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        if self._bars is None:
            self._bars = self._new_bars()
            self._bars.start()
        kind, _, rest = stage.partition(" ")
        label = f"{stage_label(kind, self.console.lang)} {rest}".strip()
        self._units[stage] = (total, unit)
        self._tasks[stage] = self._bars.add_task(label, total=total, amount=_amount(0, total, unit))

    def update(self, stage: str, done: float) -> None:
        if stage in self._tasks:
            total, unit = self._units[stage]
            self._bars.update(self._tasks[stage], completed=done, amount=_amount(done, total, unit))

    def finish(self, stage: str) -> None:
        task = self._tasks.pop(stage, None)
        if task is None:
            return
        total, unit = self._units.pop(stage)
        done = total if total is not None else self._bars.tasks[task].completed
        self._bars.update(task, completed=done or 1, total=done or 1, amount=_amount(done, total, unit))
        if not self._tasks:
            self.close()

    def close(self) -> None:
        """Stop the live display (the finished bars stay on screen)."""
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    def warn(self, message: str) -> None:
        target = self._bars.console if self._bars is not None else self.console.rich_err
        target.print(f"veille: warning: {message}", markup=False, highlight=False, style="yellow")


class Console:
    """Prints for the CLI; the library itself never prints.

    Args:
        verbose: also show stage lines when output is not a terminal.
        quiet: print nothing but errors.
        lang: label language (``en`` or ``fr``).
        tty: force terminal (True) or plain (False) output; detected from stderr when ``None``.
        out, err: streams for results and for progress/warnings/errors (default stdout, stderr).
    """

    def __init__(
        self,
        *,
        verbose: bool = False,
        quiet: bool = False,
        lang: str = "en",
        tty: bool | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self.lang = lang
        self.out = out
        self.err = err
        self.is_tty = (err or sys.stderr).isatty() if tty is None else tty
        self.out_tty = (out or sys.stdout).isatty() if tty is None else tty
        self._rich_err: Any = None

    @property
    def rich_err(self) -> Any:
        """A rich console on the error stream (terminal mode only)."""
        if self._rich_err is None:
            from rich.console import Console as RichConsole

            self._rich_err = RichConsole(file=self.err or sys.stderr, force_terminal=self.is_tty, highlight=False)
        return self._rich_err

    def progress(self) -> _PlainProgress | _RichProgress:
        """A progress receiver for one analysis (bars on a terminal, plain lines otherwise)."""
        if self.is_tty and not self.quiet:
            return _RichProgress(self)
        return _PlainProgress(self)

    def _echo(self, message: str, *, err: bool = False) -> None:
        click.echo(message, file=(self.err if err else self.out), err=err)

    def info(self, message: str) -> None:
        """A line shown with ``--verbose``."""
        if self.verbose:
            self._echo(message, err=True)

    def warn(self, message: str) -> None:
        """A warning on stderr (hidden with ``--quiet``)."""
        if not self.quiet:
            self._echo(f"veille: warning: {message}", err=True)

    def error(self, message: str) -> None:
        """An error on stderr (always shown)."""
        self._echo(f"veille: error: {message}", err=True)

    def note(self, message: str) -> None:
        """A line on stderr that the user should see before the work starts (hidden with ``--quiet``)."""
        if not self.quiet:
            self._echo(f"veille: {message}", err=True)

    def fallback(self, message: str) -> None:
        """The run's closing line when it went without a model it asked for: on stderr, even with ``--quiet``.

        One line is not noise when the analysis is not what was asked for.
        """
        self._echo(f"veille: warning: {message}", err=True)

    def starting(self, position: str, video: str) -> None:
        """A video of a batch begins: "[2/5] cam.mp4" (on a terminal, or with ``--verbose``)."""
        if self.quiet:
            return
        if self.is_tty:
            from rich.text import Text

            self.rich_err.print(Text(f"{position} {video}", style="bold"), soft_wrap=True)
        else:
            self.info(f"{position} {video}")

    def result(self, result: AnalysisResult, position: str = "") -> None:
        """The events of a finished analysis and where its report is (``position``: "[2/5]" in a batch)."""
        if self.quiet:
            return
        if self.out_tty:
            self._result_table(result, position)
        else:
            self._result_lines(result, position)

    def _report_paths(self, result: AnalysisResult) -> list[Path]:
        folder = Path(result.folder)
        names = {Path(p).name for p in result.paths}
        return [folder / n for n in ("report.html", "report.json") if n in names] or [folder / "report.json"]

    def _headline(self, result: AnalysisResult, position: str = "") -> str:
        report = result.report
        found = events_found(len(report.events), report.video.duration_s, self.lang)
        return f"{position} {report.video.path}: {found}".lstrip()

    def _result_lines(self, result: AnalysisResult, position: str = "") -> None:
        from veille.report.ranking import anomaly_note, ranked_events, ranking_line

        report = result.report
        self._echo(self._headline(result, position))
        if ranking_line(report, self.lang):
            self._echo(f"  {ranking_line(report, self.lang)}")
        for event in ranked_events(report):
            threat = threat_label(event.threat_level, self.lang)
            note = anomaly_note(report, event, self.lang)
            note = f"  — {note}" if note else ""
            self._echo(f"  {clock(event.start_s)}–{clock(event.end_s)}  [{threat}]  {event.title}{note}")
        for path in self._report_paths(result):
            self._echo(f"{labels(self.lang)['report']}: {path}")

    def _result_table(self, result: AnalysisResult, position: str = "") -> None:
        from rich.console import Console as RichConsole
        from rich.table import Table
        from rich.text import Text

        from veille.report.ranking import anomaly_note, is_unusual, ranked_events, ranking_line

        t = labels(self.lang)
        report = result.report
        rich_out = RichConsole(file=self.out or sys.stdout, force_terminal=True, highlight=False)
        # the headline is its own line, as wide as the terminal (a table title wraps at the table's width)
        rich_out.print(Text(self._headline(result, position), style="italic"), soft_wrap=True)
        if report.anomaly:
            rich_out.print(Text(ranking_line(report, self.lang)), soft_wrap=True)
        table = Table(show_edge=False)
        table.add_column(t["time"], no_wrap=True)
        table.add_column(t["threat"], no_wrap=True)
        table.add_column(t["title"])
        if report.anomaly:
            table.add_column(t["anomaly_curve"])
        for e in ranked_events(report):
            threat = Text(threat_label(e.threat_level, self.lang), style=THREAT_STYLES[e.threat_level])
            cells = [Text(f"{clock(e.start_s)}–{clock(e.end_s)}"), threat, Text(e.title)]
            if report.anomaly:
                cells.append(Text(anomaly_note(report, e, self.lang), style="magenta" if is_unusual(report, e) else ""))
            table.add_row(*cells)
        if report.events:
            rich_out.print(table)
        for path in self._report_paths(result):
            rich_out.print(Text(f"{t['report']}: "), Text(str(path), style="bold"), sep="")

    def batch_summary(self, total: int, failed: list[str], index: Path) -> None:
        """The closing lines of a batch of ``total`` videos: how many were analysed, where the index is,
        and which failed (their reasons were printed as they happened and are in the index)."""
        if total > 1 and not self.quiet:
            self._echo(f"{batch_done(total, len(failed), self.lang)} · {labels(self.lang)['index']}: {index}")
        if failed and total > 1:
            names = ", ".join(failed)
            self._echo(f"veille: {len(failed)} of {count(total, 'input')} failed: {names}", err=True)
