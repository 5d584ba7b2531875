"""Merge the describer requests of several callers into one model call (a GPU's batching pays)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: How long the first request of a batch waits for others to join it.
WAIT_S = 0.02


class Batcher:
    """Callers :meth:`run` lists of requests from their own threads; requests that arrive while one
    call is being made (or within :data:`WAIT_S` of the first) go through ``generate`` together, up to
    ``size`` requests per call, each caller getting back its own answers in order."""

    def __init__(self, generate: Callable[[list[Any], int], list[str]], size: int) -> None:
        self.generate, self.size = generate, size
        self._cond = threading.Condition()
        self._queue: list[tuple[list[Any], int, dict[str, Any]]] = []
        self._busy = False

    def run(self, requests: list[Any], max_new_tokens: int) -> list[str]:
        """The answers to ``requests``, possibly computed with other callers' requests."""
        slot: dict[str, Any] = {}
        with self._cond:
            self._queue.append((requests, max_new_tokens, slot))
            while "answers" not in slot and "error" not in slot:
                if not self._busy:
                    self._busy = True
                    break
                self._cond.wait()
            else:
                return self._result(slot)
        self._lead()
        return self._result(slot)

    def _lead(self) -> None:
        """Make calls for whatever is queued until the queue is empty, then let another lead."""
        threading.Event().wait(WAIT_S)
        while True:
            with self._cond:
                if not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    return
                group = self._take()
            self._call(group)
            with self._cond:
                self._cond.notify_all()

    def _take(self) -> list[tuple[list[Any], int, dict[str, Any]]]:
        tokens = self._queue[0][1]
        group: list[tuple[list[Any], int, dict[str, Any]]] = []
        total = 0
        for entry in list(self._queue):
            if entry[1] == tokens and (not group or total + len(entry[0]) <= self.size):
                group.append(entry)
                total += len(entry[0])
                self._queue.remove(entry)
        return group

    def _call(self, group: list[tuple[list[Any], int, dict[str, Any]]]) -> None:
        flat = [r for requests, _, _ in group for r in requests]
        try:
            answers = self.generate(flat, group[0][1])
        except Exception as exc:  # every caller of the batch sees the failure
            for _, _, slot in group:
                slot["error"] = exc
            return
        at = 0
        for requests, _, slot in group:
            slot["answers"] = answers[at : at + len(requests)]
            at += len(requests)

    @staticmethod
    def _result(slot: dict[str, Any]) -> list[str]:
        if "error" in slot:
            raise slot["error"]
        return list(slot["answers"])
