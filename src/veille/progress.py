"""How the library reports progress without printing: the caller passes a :class:`Progress`."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress from long work. The console implements it; tests may record it."""

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        """A stage begins (``scan``, ``describe``, ``reason``…) with an optional total."""

    def update(self, stage: str, done: float) -> None:
        """``done`` units of ``stage`` are finished (absolute, not a delta)."""

    def finish(self, stage: str) -> None:
        """The stage is over."""

    def warn(self, message: str) -> None:
        """Something the user should know but that does not stop the work."""


class NullProgress:
    """A :class:`Progress` that ignores everything."""

    def start(self, stage: str, total: float | None = None, *, unit: str = "") -> None:
        return None

    def update(self, stage: str, done: float) -> None:
        return None

    def finish(self, stage: str) -> None:
        return None

    def warn(self, message: str) -> None:
        return None
