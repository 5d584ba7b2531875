"""The one place where what a model call raises becomes the project's :class:`~veille.errors.BackendError`.

A model can fail in many ways: CUDA or CPU out of memory, a shape or dtype error deep in torch, a
tokenizer or processor that rejects its input, scores that turned NaN. The analysis cannot tell
them apart and need not: it catches :class:`BackendError` and falls back (motion-only events, an
unjudged chunk, no boxes) with a warning that names the model and what went wrong. Every backend
method that runs a model is decorated with :func:`model_call`; nothing else converts errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from veille.errors import BackendError

P = ParamSpec("P")
R = TypeVar("R")
#: A warning quotes at most this much of the library's message (CUDA's run to several lines).
MESSAGE_CHARS = 200


def model_call(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Make ``method`` (of a backend with an ``info.id``) raise only :class:`BackendError`, the cause chained.

    An interruption (Ctrl-C, :class:`~veille.errors.AnalysisInterrupted`) is not an ``Exception``
    and passes as it is, and so does a :class:`BackendError` raised further in.
    """

    @functools.wraps(method)
    def guarded(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"{model_name(self)} failed: {describe(exc)}") from exc

    return guarded


def model_name(backend: Any) -> str:
    """The model id a backend reports, else its class name."""
    return str(getattr(getattr(backend, "info", None), "id", None) or type(backend).__name__)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, bounded."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def check_finite(values: Any, what: str) -> None:
    """Raise :class:`FloatingPointError` when the tensor ``values`` holds NaN or +inf.

    -inf is allowed: logits processors use it to rule tokens out.
    """
    import torch

    if bool(torch.isnan(values).any()) or bool(torch.isposinf(values).any()):
        raise FloatingPointError(f"the model's {what} hold NaN or inf (broken weights or an overflow)")

