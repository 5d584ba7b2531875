"""int8 linear layers for the CPU: weights int8 with one scale per output channel, inputs quantized per call.

The numerics are PyTorch's dynamic quantization (``torch.ao.nn.quantized.dynamic.Linear`` with
``per_channel_dynamic_qconfig``): the same scales, the same int8 weights, the same kernel. What
differs is how the layers are made:

- :func:`quantize_rows` quantizes a weight straight from the precision it is stored in, a few rows
  at a time, so no fp32 copy of the layer (let alone of the model) is ever made;
- :class:`Int8Linear` packs a very tall weight (an output layer over a large vocabulary) for the
  kernel in blocks of :data:`BLOCK_ROWS` output channels: fbgemm's packing slows down more than
  linearly with the number of channels (Phi-2's 51,200-channel output layer took 6.3 s of CPU in one
  block, 0.9 s in blocks). Each output channel is computed on its own, so the blocks' outputs side
  by side are the one-block output, bit for bit; layers up to :data:`TALL` channels stay in one
  block (a block costs ~0.15 ms per call).

This module imports torch: import it only where a model is loaded.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)
# torch marks its quantized tensors for a move to torchao; the kernels are the ones this module is about
warnings.filterwarnings(
    "ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel", category=UserWarning
)

#: Output channels per packed block, for layers taller than :data:`TALL` (see the module docstring).
BLOCK_ROWS = 4096
TALL = 16384
#: Elements converted to fp32 at a time while quantizing (1 MiB of fp32: stays in the CPU's cache).
CHUNK_ELEMENTS = 1 << 18


@functools.cache
def _observer_type() -> Any:
    """The weight observer of ``per_channel_dynamic_qconfig`` (its scale formula is the one used here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig

        return per_channel_dynamic_qconfig.weight


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight`` (any float dtype, ``[out, in]``) as int8 values and one fp32 scale per output channel.

    Bit for bit what ``DynamicLinear.from_float`` computes from the fp32 values of ``weight``: the
    observer's symmetric per-channel scales, and ``torch.quantize_per_channel``'s rounding
    (``clamp(nearbyint(x * (1.0f / scale)), -128, 127)``), made ``CHUNK_ELEMENTS`` at a time.
    """
    observer = _observer_type()()
    rows = max(1, CHUNK_ELEMENTS // max(1, weight.shape[1]))
    values = torch.empty(weight.shape, dtype=torch.int8)
    scales = torch.empty(weight.shape[0], dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, weight.shape[0], rows):
            part = weight[start : start + rows].to(torch.float32, copy=True)
            low, high = torch.aminmax(part, dim=1)
            scale, _zero = observer._calculate_qparams(low, high)  # zero points: 0 (symmetric)
            part.mul_(torch.reciprocal(scale)[:, None]).round_().clamp_(-128, 127)
            values[start : start + rows] = part
            scales[start : start + rows] = scale
    return values, scales


def empty_qtensor(shape: tuple[int, int], scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An uninitialised per-channel int8 tensor and a plain int8 view of its values (to read or write into)."""
    zeros = torch.zeros(shape[0], dtype=torch.long)
    qweight = torch._empty_per_channel_affine_quantized(
        shape, scales=scales.double(), zero_points=zeros, axis=0, dtype=torch.qint8
    )
    values = torch.empty(0, dtype=torch.int8).set_(qweight.untyped_storage(), 0, shape)
    return qweight, values


def qtensor(values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """int8 ``values`` with their per-channel ``scales`` as one quantized tensor."""
    qweight, view = empty_qtensor(tuple(values.shape), scales)
    view.copy_(values)
    return qweight


def blocks(out_features: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` output channels of each packed block."""
    if out_features <= TALL:
        return [(0, out_features)]
    return [(i, min(out_features, i + BLOCK_ROWS)) for i in range(0, out_features, BLOCK_ROWS)]


class Int8Linear(nn.Module):  # type: ignore[misc]  # torch is not followed (see pyproject)
    """A linear layer computed by ``quantized::linear_dynamic`` (int8 weights per channel, inputs per call).

    It holds no parameters or buffers: ``state_dict()`` has nothing of it, ``.float()`` leaves it alone.
    """

    def __init__(self, in_features: int, out_features: int, packs: list[Any]) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._packs = packs

    @classmethod
    def from_qtensor(cls, qweight: torch.Tensor, bias: torch.Tensor | None) -> Int8Linear:
        """A layer from a per-channel quantized weight ``[out, in]`` and an optional bias."""
        out_features, in_features = qweight.shape
        fp32_bias = None if bias is None else bias.float().contiguous()
        packs = [
            torch.ops.quantized.linear_prepack(qweight[a:b], None if fp32_bias is None else fp32_bias[a:b])
            for a, b in blocks(out_features)
        ]
        return cls(in_features, out_features, packs)

    @classmethod
    def from_int8(cls, values: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> Int8Linear:
        """A layer from int8 ``values`` ``[out, in]``, their per-channel ``scales`` and an optional ``bias``."""
        return cls.from_qtensor(qtensor(values, scales), bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """``linear`` quantized (from its own dtype; no fp32 copy of the layer)."""
        values, scales = quantize_rows(linear.weight.detach())
        return cls.from_int8(values, scales, None if linear.bias is None else linear.bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T + b`` with ``x`` quantized to 8 bits on the fly (reduced range, as PyTorch's fbgemm path)."""
        linear = torch.ops.quantized.linear_dynamic
        if len(self._packs) == 1:
            out = linear(x, self._packs[0], reduce_range=True)
        else:
            out = torch.cat([linear(x, p, reduce_range=True) for p in self._packs], dim=-1)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        """``in_features``, ``out_features`` and how many packed blocks."""
        return f"in_features={self.in_features}, out_features={self.out_features}, blocks={len(self._packs)}"


@functools.cache
def int8_kernels() -> bool:
    """True when this PyTorch build can pack and run int8 linear layers on this CPU."""
    try:
        values, scales = quantize_rows(torch.ones(1, 4))
        layer = Int8Linear.from_int8(values, scales, None)
        layer(torch.ones(1, 4))
    except (RuntimeError, NotImplementedError, AttributeError) as exc:
        log.debug("no int8 kernels: %s", exc)
        return False
    return True


def quantize_linears(model: nn.Module, *, trim_every: int = 32 << 20) -> int:
    """Swap every ``nn.Linear`` of ``model`` for an :class:`Int8Linear`, in place; returns how many.

    Each layer is quantized from the dtype it was loaded in and its original dropped at once, and
    freed heap memory goes back to the system every ``trim_every`` bytes of originals: memory never
    holds more than the model plus one layer's working set.
    """
    from veille.backends.runtime import trim_heap

    # names, not modules: a list of the modules would keep every original alive to the end
    names = [name for name, module in model.named_modules(remove_duplicate=False) if type(module) is nn.Linear]
    done: dict[int, Int8Linear] = {}  # a layer registered under two names is quantized once
    dropped = 0
    for name in names:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        child = getattr(parent, child_name)
        if id(child) not in done:
            done[id(child)] = Int8Linear.from_linear(child)
            dropped += child.weight.nbytes
        setattr(parent, child_name, done[id(child)])
        del child
        if dropped >= trim_every:
            trim_heap()
            dropped = 0
    trim_heap()
    return len(done)
