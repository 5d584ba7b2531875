"""Shared plumbing of the transformers backends: load options, model info, images."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.backends.guard import check_finite
from veille.backends.info import ModelInfo
from veille.backends.runtime import INT8_DYNAMIC, load_kwargs, release
from veille.errors import ModelError

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

    Delegates to :func:`veille.backends.runtime.load_kwargs`; the safety flags are forced here.
    """
    kwargs, fields = load_kwargs(options, role=role)
    kwargs = {**kwargs, "use_safetensors": True, "trust_remote_code": False}
    return kwargs, dict(fields)


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
    """Deterministic, bounded, repetition-guarded generation that stops on NaN or inf scores."""
    from transformers import LogitsProcessorList

    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "no_repeat_ngram_size": NO_REPEAT_NGRAM,
        "logits_processor": LogitsProcessorList([FiniteScores()]),
    }


class FiniteScores:
    """A logits processor that raises when the next-token scores hold NaN or +inf.

    Greedy decoding would otherwise pick a NaN as the best token and write nonsense without a word.
    """

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        check_finite(scores, "next-token scores")
        return scores


#: Inputs with at least this many rows (tokens) go through a widened linear layer in fp32.
WIDEN_ROWS = 32


def prepare(model: Any, fields: dict[str, Any]) -> Any:
    """Finish a loaded model for its device: int8 linear layers on the CPU, or bf16 with fp32 prompts.

    With ``quantization == "int8-dynamic"`` (the CPU default) every linear layer becomes int8
    (:func:`quantize_linears`) and the rest computes in fp32. Where PyTorch has no int8 kernels the
    model runs in fp32 with a warning, and ``fields["quantization"]`` is set to ``None``.

    Otherwise, on a CPU without native bf16 (``--no-8bit``), bf16 weights are the better store for
    the reasoner: half the memory, and token-by-token decoding, which reads every weight once per
    token, ran 1.8x faster than fp32 (Phi-2 shapes, side by side). Long matrix products in emulated
    bf16 are ~4x slower than fp32, so every linear layer widens to fp32 for inputs of
    :data:`WIDEN_ROWS` or more tokens (prompts then cost ~1.4x fp32's, for the weight conversion).
    """
    if fields.get("quantization") == INT8_DYNAMIC:
        from veille.backends.runtime import release

        try:
            quantize_linears(model)
        except (RuntimeError, NotImplementedError, AttributeError) as exc:  # no int8 kernels for this CPU
            log.warning("int8 layers are not available here (%s); the model runs in fp32 (--no-8bit)", exc)
            fields["quantization"] = None  # what the report records
        model = model.float()  # the layers left (embeddings, norms, convolutions) compute in fp32
        release()  # the weights the int8 ones were made from
        return model
    if fields.get("device") == "cpu" and fields.get("dtype") == "bf16":
        from veille.backends.runtime import cpu_has_native_bf16

        if not cpu_has_native_bf16():
            widen_prompts(model)
    return model


def quantize_linears(model: Any) -> int:
    """Swap every ``nn.Linear`` of ``model`` for an int8 one, in place; returns how many.

    Weights become int8 with one scale per output channel; each call quantizes its input and
    multiplies in int8 (fbgemm / oneDNN kernels). Each layer is quantized from the dtype it was
    loaded in and dropped at once (:func:`veille.backends.int8.quantize_linears`).
    """
    from veille.backends.int8 import quantize_linears as quantize

    return quantize(model)


def load_model(auto_cls: Any, path: Path, options: Any, role: str, **source: Any) -> Any:
    """The model in ``path`` for ``role``, loaded and finished for its device (``from_pretrained`` + :func:`prepare`).

    The loading keywords come from :func:`load_options` here, so they always hold safetensors only
    and no remote code.

    On the CPU in int8 (the default there) the model is read straight into int8, one tensor at a
    time, or rebuilt from the int8 cache (:mod:`veille.backends.int8_load`); ``source`` gives
    ``cache`` (the int8 cache folder), ``repo_id`` and ``revision`` for it. Checkpoints that cannot
    be read that way load the usual way and are quantized in place.
    """
    kwargs, fields = load_options(options, role)
    model = None
    if fields.get("quantization") == INT8_DYNAMIC:
        from veille.backends.int8 import int8_kernels

        if int8_kernels():
            from veille.backends.int8_load import load_int8

            model = load_int8(auto_cls, Path(path), **source)
    if model is None:
        model = prepare(auto_cls.from_pretrained(path, **kwargs).eval(), fields)
    fuse_activations(model)
    return model


def fuse_activations(model: Any) -> int:
    """Compute ``gelu_new`` (Phi-2's activation) with PyTorch's fused kernel; returns how many were swapped.

    transformers writes it as five element-wise operations over the whole MLP width; PyTorch's
    ``gelu(approximate="tanh")`` is the same formula in one pass (equal to within 3e-7 in fp32,
    ~4x faster on a CPU, where it was ~10 % of reading a long prompt).
    """
    from transformers.activations import GELUTanh, NewGELUActivation

    swapped = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, child_name, GELUTanh())
                swapped += 1
    if swapped:
        log.debug("%d gelu_new activations computed by the fused kernel", swapped)
    return swapped


def int8_source(options: Any, model_id: str, revision: str | None) -> dict[str, Any]:
    """``load_model``'s ``source`` for a model known as ``model_id`` at ``revision`` (no int8 cache when unset)."""
    cache = getattr(options, "int8_cache", None)
    return {"cache": cache, "repo_id": model_id, "revision": revision}


def widen_prompts(model: Any) -> int:
    """Make every ``nn.Linear`` of ``model`` compute inputs of ``WIDEN_ROWS``+ rows in fp32; returns how many."""
    import types

    from torch import nn

    count = 0
    for module in model.modules():
        if type(module) is nn.Linear:
            module.forward = types.MethodType(_wide_forward, module)
            count += 1
    return count


def _wide_forward(self: Any, x: Any) -> Any:
    import torch.nn.functional as F

    if x.dtype != self.weight.dtype or x.numel() < WIDEN_ROWS * x.shape[-1]:
        return F.linear(x, self.weight, self.bias)
    bias = None if self.bias is None else self.bias.float()
    return F.linear(x.float(), self.weight.float(), bias).to(x.dtype)


def free(model: Any) -> None:
    """Release a model's memory."""
    release(model)
