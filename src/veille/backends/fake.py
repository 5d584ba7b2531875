"""Scripted backends for tests: answers come from a queue, every call is recorded.

:class:`FakeBackend` plays every role as a remote model would (it writes text); :class:`ScoringFakeBackend`
also weighs answers (:class:`~veille.backends.base.ScoringTextModel`), as the local reasoners do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from veille.backends.base import Grounder, ScoringTextModel, TextModel, VisionLanguageModel, VisionRequest, cut_at_stop
from veille.backends.info import ModelInfo
from veille.types import Box

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Call:
    """One recorded call to a :class:`FakeBackend`."""

    method: str
    prompt: str
    images: int = 0
    max_new_tokens: int = 0
    stop: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    pictures: tuple[Any, ...] = field(default=(), repr=False)  # the images received, in order


@dataclass
class FakeBackend(VisionLanguageModel, TextModel, Grounder):
    """Plays every role (it subclasses each role's protocol, so mypy checks it implements them).

    ``enqueue()`` answers (strings, box lists or exceptions); ``history`` records calls.

    With an empty queue it answers ``default`` (a string, or a callable of the prompt). ``image_size``,
    when set, is the side of the describer's input image (as :class:`~veille.backends.idefics3.Idefics3Backend`
    says it).
    """

    model_id: str = "fake"
    default: str | Callable[[str], str] = ""
    history: list[Call] = field(default_factory=list)
    closed: bool = False
    image_size: int | None = None
    _queue: deque[Any] = field(default_factory=deque)

    @property
    def info(self) -> ModelInfo:
        """What the report records about this model."""
        return ModelInfo(id=self.model_id, device="cpu", dtype="fp32")

    def enqueue(self, *answers: Any) -> FakeBackend:
        """Queue answers, used in order; an exception instance is raised when its turn comes."""
        self._queue.extend(answers)
        return self

    def _next(self, prompt: str) -> Any:
        if self._queue:
            answer = self._queue.popleft()
        else:
            answer = self.default(prompt) if callable(self.default) else self.default
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def generate(
        self, prompt: str, images: Sequence[np.ndarray] = (), *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> str:
        """Answer a text or vision request."""
        self.history.append(Call("generate", prompt, len(images), max_new_tokens, tuple(stop), pictures=tuple(images)))
        return cut_at_stop(str(self._next(prompt)), stop) if stop else str(self._next(prompt))

    def generate_batch(self, requests: Sequence[VisionRequest], *, max_new_tokens: int) -> list[str]:
        """Answer several vision requests in one recorded call."""
        pictures = tuple(image for _, images in requests for image in images)
        self.history.append(Call("generate_batch", "\n".join(p for p, _ in requests), len(pictures), pictures=pictures))
        return [str(self._next(prompt)) for prompt, _ in requests]

    def ground(self, image: np.ndarray) -> list[Box]:
        """Answer a grounding request with queued boxes (none by default)."""
        self.history.append(Call("ground", "", 1, pictures=(image,)))
        answer = self._queue.popleft() if self._queue else []
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    def close(self) -> None:
        """Mark the backend closed."""
        self.closed = True


@dataclass
class ScoringFakeBackend(FakeBackend, ScoringTextModel):
    """A fake reasoner that weighs one-token choices and writes continuations, side by side.

    ``weights`` gives the probabilities of the choices after an answer start: fixed, or a callable
    of the start; ``None`` (or a callable answering ``None``) says the choices cannot be told apart.
    Each continuation is the next queued answer (or ``default``, called with prompt + answer start).
    """

    weights: Sequence[float] | Callable[[str], Sequence[float] | None] | None = None

    def choose_each(
        self, prompt: str, choices: Sequence[str], answer_starts: Sequence[str]
    ) -> list[list[float]] | None:
        """The weights of each answer start, or None."""
        self.history.append(Call("choose_each", prompt, starts=tuple(answer_starts)))
        out: list[list[float]] = []
        for start in answer_starts:
            weights = self.weights(start) if callable(self.weights) else self.weights
            if weights is None:
                return None
            out.append(list(weights))
        return out

    def continue_each(
        self, prompt: str, answer_starts: Sequence[str], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> list[str]:
        """One queued (or default) answer per answer start, cut before the first ``stop``."""
        self.history.append(Call("continue_each", prompt, 0, max_new_tokens, tuple(stop), tuple(answer_starts)))
        return [cut_at_stop(str(self._next(prompt + start)), stop) for start in answer_starts]
