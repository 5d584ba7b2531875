"""Download progress: rich per-file bars on a terminal, one line per file otherwise, nothing when quiet.

huggingface_hub reports each file's bytes through a tqdm-like object (``tqdm_class=``);
:func:`tqdm_class_for` turns a :class:`DownloadReporter` into such a class.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from veille.progress import Progress


class DownloadReporter(Protocol):
    """Receives per-file download progress."""

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        """A file's transfer begins (``initial`` bytes were already there: a resume)."""

    def file_advanced(self, name: str, nbytes: int) -> None:
        """``nbytes`` more bytes of ``name`` arrived (may be negative when a resume restarts)."""

    def file_done(self, name: str) -> None:
        """The file is complete."""

    def message(self, text: str) -> None:
        """A line for the user (the plan, a summary)."""

    def warn(self, text: str) -> None:
        """A line about a problem being worked around, as it happens (a retry: its attempt and wait)."""


class NullReporter:
    """Reports nothing (``--quiet``)."""

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        return None

    def file_advanced(self, name: str, nbytes: int) -> None:
        return None

    def file_done(self, name: str) -> None:
        return None

    def message(self, text: str) -> None:
        return None

    def warn(self, text: str) -> None:
        return None


def human_bytes(n: float) -> str:
    """``1.2 GB``, ``340.0 MB``, ``12.0 kB``, ``5 B`` (powers of 10, as the Hub shows sizes)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


class LineReporter:
    """One line per finished file (for logs and pipes): name, size, seconds, speed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._files: dict[str, list[float]] = {}

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        self._files[name] = [time.perf_counter(), float(total or 0), float(initial), float(initial)]

    def file_advanced(self, name: str, nbytes: int) -> None:
        if name in self._files:
            self._files[name][3] += nbytes

    def file_done(self, name: str) -> None:
        started, total, initial, done = self._files.pop(name, [time.perf_counter(), 0.0, 0.0, 0.0])
        seconds = max(time.perf_counter() - started, 1e-6)
        resumed = f", resumed at {human_bytes(initial)}" if initial else ""
        speed = human_bytes((done - initial) / seconds)
        self.message(f"  {name}  {human_bytes(total or done)}  {seconds:.1f} s  {speed}/s{resumed}")

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def warn(self, text: str) -> None:
        self.message(text)


class RichReporter:
    """Per-file bars with bytes, speed and ETA (rich), for a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._console = Console(file=stream or sys.stderr)
        self._bars = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        if not self._tasks:
            self._bars.start()
        self._tasks[name] = self._bars.add_task(name, total=total, completed=initial)

    def file_advanced(self, name: str, nbytes: int) -> None:
        if name in self._tasks:
            self._bars.advance(self._tasks[name], nbytes)

    def file_done(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            self._bars.update(task, completed=self._bars.tasks[task].total or 0)
        if not self._tasks:
            self._bars.stop()

    def message(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)

    def warn(self, text: str) -> None:
        self.message(text)


class ProgressReporter:
    """Forwards downloads to the analysis :class:`~veille.progress.Progress` (download on first use).

    Retries are shown as they happen (as the progress's warnings; hidden with ``--quiet``).
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._done: dict[str, float] = {}

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        self._done[name] = float(initial)
        self.progress.start(f"download {name}", float(total) if total else None, unit="B")

    def file_advanced(self, name: str, nbytes: int) -> None:
        self._done[name] = self._done.get(name, 0.0) + nbytes
        self.progress.update(f"download {name}", self._done[name])

    def file_done(self, name: str) -> None:
        self._done.pop(name, None)
        self.progress.finish(f"download {name}")

    def message(self, text: str) -> None:
        return None

    def warn(self, text: str) -> None:
        self.progress.warn(text)


def console_reporter(*, quiet: bool, stream: TextIO | None = None) -> DownloadReporter:
    """Rich bars on a terminal, plain lines otherwise, nothing when ``quiet``."""
    if quiet:
        return NullReporter()
    stream = stream or sys.stderr
    return RichReporter(stream) if stream.isatty() else LineReporter(stream)


def tqdm_class_for(reporter: DownloadReporter, name: str) -> type:
    """A tqdm-like class (as huggingface_hub's ``tqdm_class=`` expects) reporting ``name`` to ``reporter``."""

    class _Bar:
        def __init__(self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any) -> None:
            reporter.file_started(name, total, initial)

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: float | None = 1) -> None:
            reporter.file_advanced(name, int(n or 0))

        def update_transfer(self, n: float | None = 1) -> None:
            return None

        def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            return None

        def close(self) -> None:
            return None

    return _Bar
