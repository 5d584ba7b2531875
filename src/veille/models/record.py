"""What one run has learnt about the models it could not have.

A batch analyses its videos one after another, each with its own models. Without a memory of the
run, each video would wait through the same download retries again (4 retries: 15 s per model). The
record keeps, for the length of one command (the CLI clears it when it starts):

- the Hub endpoints that did not answer, and the repos that failed for good (not found, gated):
  later downloads from them fail at once, with the same reason;
- the remote servers that could not be reached;
- the models each role had to go without, for the run's closing line.

A program that runs several independent analyses in one process and wants each to try the network
afresh calls ``RUN.clear()`` between them, as the CLI does at the start of each command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veille.errors import ModelError


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A model a role went without, and why (a few words)."""

    role: str
    spec: str
    reason: str


@dataclass
class RunRecord:
    """Failures seen so far in this run (see the module's docstring)."""

    down: dict[str, BaseException] = field(default_factory=dict)
    failed: dict[tuple[str, str, str], ModelError] = field(default_factory=dict)
    unavailable: dict[tuple[str, str], Unavailable] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget everything: a new run starts."""
        self.down.clear()
        self.failed.clear()
        self.unavailable.clear()

    def endpoint_down(self, endpoint: str) -> BaseException | None:
        """The error that made ``endpoint`` unreachable earlier in this run, if it did."""
        return self.down.get(endpoint.rstrip("/"))

    def note_down(self, endpoint: str, cause: BaseException) -> None:
        """``endpoint`` did not answer (after its retries); later requests to it are not made."""
        self.down.setdefault(endpoint.rstrip("/"), cause)

    def repo_failure(self, endpoint: str, repo_id: str, revision: str) -> ModelError | None:
        """The error ``repo_id@revision`` failed with earlier in this run, if it did."""
        return self.failed.get((endpoint.rstrip("/"), repo_id, revision))

    def note_repo_failure(self, endpoint: str, repo_id: str, revision: str, error: ModelError) -> None:
        """``repo_id@revision`` cannot be had from ``endpoint`` (missing, gated, unknown revision…)."""
        self.failed[(endpoint.rstrip("/"), repo_id, revision)] = error

    def note_unavailable(self, role: str, spec: str, reason: str) -> None:
        """``role`` went without the model ``spec`` in some analysis of this run."""
        self.unavailable.setdefault((role, spec), Unavailable(role, spec, reason))


#: The record of the current run (one per process; the CLI clears it at the start of each command).
RUN = RunRecord()
