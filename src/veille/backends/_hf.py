"""Shared plumbing of the transformers backends: load options, model info, images."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.errors import ModelError
from veille.report.schema import ModelInfo

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger(__name__)

#: Repetition guard used by every generate call (small VLMs and base LMs tend to loop).
NO_REPEAT_NGRAM = 4


def model_type(path: Path) -> str:
    """The ``model_type`` in ``path/config.json`` (e.g. ``idefics3``, ``phi``, ``kosmos-2``)."""
    config = Path(path) / "config.json"
    try:
        return str(json.loads(config.read_text(encoding="utf-8"))["model_type"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path} holds no readable config.json with a model_type; give a model folder") from exc


def load_options(options: Any, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``from_pretrained`` keyword arguments and the device/dtype/quantization fields for ``role``.

    Delegates to :func:`veille.models.runtime.load_kwargs`; the safety flags are forced here.
    """
    try:
        from veille.models.runtime import load_kwargs
    except ImportError:  # the runtime module is not installed yet: plain CPU, fp32
        kwargs, fields = _cpu_fp32(options)
    else:
        kwargs, fields = load_kwargs(options, role=role)
    kwargs = {**kwargs, "use_safetensors": True, "trust_remote_code": False}
    return kwargs, dict(fields)


def _cpu_fp32(options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    if getattr(options, "device", "cpu") not in ("auto", "cpu"):
        log.warning("device %s is not supported without veille.models.runtime; using the CPU", options.device)
    return {"dtype": torch.float32}, {"device": "cpu", "dtype": "fp32", "quantization": None}


def model_info(model_id: str, revision: str | None, fields: dict[str, Any]) -> ModelInfo:
    """The report's record of a loaded model."""
    return ModelInfo(
        id=model_id,
        revision=revision,
        device=str(fields.get("device", "cpu")),
        dtype=str(fields.get("dtype", "fp32")),
        quantization=fields.get("quantization"),
    )


def to_pil(images: Sequence[np.ndarray]) -> list[Image.Image]:
    """RGB ``uint8`` arrays as PIL images."""
    from PIL import Image

    return [Image.fromarray(image).convert("RGB") for image in images]


def input_device(model: Any) -> Any:
    """Where the inputs must go (the first parameter's device; works with ``device_map``)."""
    return next(model.parameters()).device


def greedy_kwargs(max_new_tokens: int) -> dict[str, Any]:
    """Deterministic, bounded, repetition-guarded generation."""
    return {"max_new_tokens": max_new_tokens, "do_sample": False, "no_repeat_ngram_size": NO_REPEAT_NGRAM}


def free(model: Any) -> None:
    """Release a model's memory."""
    try:
        from veille.models.runtime import release
    except ImportError:  # pragma: no cover - runtime module always present in a full install
        import gc

        gc.collect()
        return
    release(model)
