"""Transport protocols every backend implements.

Backends carry prompts and images to a model and bring text (or boxes) back. Prompts, output
schemas, parsing and retries on bad output live in :mod:`veille.analysis`, so a fake backend
exercises all of that logic. A model that fails while it runs raises only
:class:`~veille.errors.BackendError` (:func:`veille.backends.guard.model_call`), which the
analysis turns into a fallback and a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from veille.backends.info import ModelInfo
from veille.types import Box

if TYPE_CHECKING:
    import numpy as np

#: One VLM request: a prompt and its RGB ``uint8`` images, in order.
VisionRequest = tuple[str, Sequence["np.ndarray"]]


@runtime_checkable
class VisionLanguageModel(Protocol):
    """Describes images (the describer role)."""

    @property
    def info(self) -> ModelInfo:
        """What the report records about this model (a plain attribute in the backends)."""
        ...

    def generate(self, prompt: str, images: Sequence[np.ndarray], *, max_new_tokens: int) -> str:
        """The model's answer to ``prompt`` about ``images``."""
        ...

    def generate_batch(self, requests: Sequence[VisionRequest], *, max_new_tokens: int) -> list[str]:
        """One answer per request, computed together where the backend can."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


@runtime_checkable
class TextModel(Protocol):
    """Writes text (the reasoner role)."""

    @property
    def info(self) -> ModelInfo:
        """What the report records about this model (a plain attribute in the backends)."""
        ...

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``prompt``, cut before the first ``stop`` string."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


@runtime_checkable
class ScoringTextModel(TextModel, Protocol):
    """A text model that can also weigh a few one-token answers without writing them.

    An answer start is text already written after the prompt (the model's format around the
    prompt is the backend's business); several answer starts after one prompt are worked on side
    by side, in one batch. Local models keep the attention cache of the shared prompt, so the
    next call that repeats it costs only the tokens that differ.
    """

    def choose_each(
        self, prompt: str, choices: Sequence[str], answer_starts: Sequence[str]
    ) -> list[list[float]] | None:
        """Per answer start, the probabilities (summing to 1) of each choice as the next text.

        None when the choices cannot be told apart by one token.
        """
        ...

    def continue_each(
        self, prompt: str, answer_starts: Sequence[str], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> list[str]:
        """The continuation of each answer start (written after ``prompt``), each cut before the first ``stop``."""
        ...


@runtime_checkable
class Grounder(Protocol):
    """Finds and names things in an image (the grounder role)."""

    @property
    def info(self) -> ModelInfo:
        """What the report records about this model (a plain attribute in the backends)."""
        ...

    def ground(self, image: np.ndarray) -> list[Box]:
        """Labelled boxes in pixel ``xyxy`` coordinates of ``image``."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


#: The model of any role: the describer's, the reasoner's or the grounder's.
Backend = VisionLanguageModel | TextModel | Grounder


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any ``stop`` string, stripped."""
    end = len(text)
    for marker in stop:
        if marker:
            index = text.find(marker)
            if index != -1:
                end = min(end, index)
    return text[:end].strip()
