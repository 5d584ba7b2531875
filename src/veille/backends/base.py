"""Transport protocols every backend implements.

Backends carry prompts and images to a model and bring text (or boxes) back. Prompts, output
schemas, parsing and retries on bad output live in :mod:`veille.analysis`, so a fake backend
exercises all of that logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from veille.report.schema import ModelInfo
from veille.types import Box

if TYPE_CHECKING:
    import numpy as np

#: One VLM request: a prompt and its RGB ``uint8`` images, in order.
VisionRequest = tuple[str, Sequence["np.ndarray"]]


@runtime_checkable
class VisionLanguageModel(Protocol):
    """Describes images (the describer role)."""

    info: ModelInfo

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

    info: ModelInfo

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``prompt``, cut before the first ``stop`` string."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


@runtime_checkable
class ScoringTextModel(TextModel, Protocol):
    """A text model that can also weigh a few one-token answers without writing them.

    ``answer_start`` is text already written after the prompt (the model's format around the prompt
    is the backend's business). Local models keep the attention cache of the previous call, so a
    prompt that repeats a former one plus a few tokens costs only those tokens.
    """

    def choose(self, prompt: str, choices: Sequence[str], *, answer_start: str = "") -> list[float] | None:
        """Probabilities (summing to 1) of each choice as the next text, or None if they cannot be told apart."""
        ...

    def continue_answer(self, prompt: str, answer_start: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``answer_start`` (written after ``prompt``), cut before the first ``stop``."""
        ...


@runtime_checkable
class Grounder(Protocol):
    """Finds and names things in an image (the grounder role)."""

    info: ModelInfo

    def ground(self, image: np.ndarray) -> list[Box]:
        """Labelled boxes in pixel ``xyxy`` coordinates of ``image``."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any ``stop`` string, stripped."""
    end = len(text)
    for marker in stop:
        if marker:
            index = text.find(marker)
            if index != -1:
                end = min(end, index)
    return text[:end].strip()
