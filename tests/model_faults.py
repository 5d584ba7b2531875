"""Make a loaded model fail the way real ones do: CUDA out of memory, a shape error, NaN scores.

The fault sits in the model's output layer (``get_output_embeddings()``), so every path that runs
the model (``generate``, one forward pass for weighed answers, Kosmos-2's text model) meets it.
"""

from __future__ import annotations

from typing import Any

import pytest

#: The error type each fault shows up as, inside the backend.
FAULTS = {"oom": "OutOfMemoryError", "shape": "RuntimeError", "nan": "FloatingPointError"}


def break_model(backend: Any, fault: str, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    """Make ``backend``'s model fail with ``fault`` (a key of :data:`FAULTS`) from now on."""
    import torch

    head = backend.model.get_output_embeddings()
    original = head.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if fault == "oom":
            raise torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 20.00 GiB.\nGPU 0 has a total capacity of 15.77 GiB"
            )
        if fault == "shape":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x64 and 32x100)")
        return torch.full_like(original(*args, **kwargs), float("nan"))

    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault}")
    if monkeypatch is None:
        head.forward = forward
    else:
        monkeypatch.setattr(head, "forward", forward)
