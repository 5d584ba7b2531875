"""Where and how a model runs: device, dtype, 8-bit quantization, and freeing memory.

``torch`` is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from veille.errors import ModelError

logger = logging.getLogger(__name__)

DTYPE_NAMES = ("bf16", "fp16", "fp32")
DEFAULT_8BIT_ROLES = frozenset({"grounder"})  # the seed loads Kosmos-2 in 8-bit on CUDA
INT8_CUDA = "int8"  # bitsandbytes LLM.int8
INT8_DYNAMIC = "int8-dynamic"  # CPU: int8 weights per channel, inputs quantized on each call


class ModelInfoFields(TypedDict):
    """How a model was loaded, for ``report.models``."""

    device: str
    dtype: str
    quantization: str | None


@dataclass(frozen=True)
class RuntimeOptions:
    """The user's wishes for every model: device, dtype and 8-bit (``None`` = the role's default).

    ``int8_cache``: the folder of the int8 weights cache (``None``: none; the model manager gives its own).
    """

    device: str = "auto"
    dtype: str = "auto"
    load_in_8bit: bool | None = None
    int8_cache: Path | None = None


def resolve_device(requested: str) -> str:
    """``auto`` → cuda > mps > cpu; a forced device that is not there is a :class:`ModelError`."""
    import torch

    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if requested == "cuda" and not has_cuda:
        raise ModelError("--device cuda was asked but no CUDA GPU is visible; use --device auto or --device cpu")
    if requested == "mps" and not has_mps:
        raise ModelError("--device mps was asked but Apple MPS is not available; use --device auto or --device cpu")
    if requested not in ("cpu", "cuda", "mps"):
        raise ModelError(f"unknown device '{requested}'; use auto, cpu, cuda or mps")
    return requested


def resolve_dtype(requested: str, device: str, role: str | None = None) -> str:
    """The dtype a model loads in when it is not quantized; ``auto`` picks per device (and on CPUs, per role).

    (On the CPU models are int8 by default, see :func:`eight_bit_plan`; this is what ``--no-8bit`` gets.)

    CUDA: bf16 with compute capability ≥ 8, else fp16. MPS: fp16. CPU with native bf16: bf16.
    Other CPUs: the reasoner keeps bf16 weights and computes its prompts in fp32 (see
    :func:`veille.backends._hf.prepare`: its token-by-token decoding ran 1.8x faster than in fp32
    here, in half the memory); describer and grounder run in fp32, where that gained nothing
    (their cost is the vision encoder's long inputs).
    """
    if requested in DTYPE_NAMES:
        return requested
    if requested != "auto":
        raise ModelError(f"unknown dtype '{requested}'; use auto, bf16, fp16 or fp32")
    if device == "cuda":
        import torch

        major, _minor = torch.cuda.get_device_capability()
        return "bf16" if major >= 8 else "fp16"
    if device == "mps":
        return "fp16"
    return "bf16" if role == "reasoner" or cpu_has_native_bf16() else "fp32"


def torch_dtype(name: str) -> Any:
    """The ``torch.dtype`` for ``bf16`` / ``fp16`` / ``fp32``."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (x86 avx512_bf16 / AMX, Arm bf16), as Linux reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def has_bitsandbytes() -> bool:
    """True when bitsandbytes can be imported."""
    return importlib.util.find_spec("bitsandbytes") is not None


def eight_bit_plan(options: RuntimeOptions, *, role: str, device: str) -> tuple[str | None, str | None]:
    """The 8-bit scheme to load with (``None``: unquantized), and a warning when a wish cannot be met.

    CPU: :data:`INT8_DYNAMIC`, every linear layer in int8, by default unless a dtype is forced (as
    faster-whisper runs int8 on CPUs): a CPU's matrix products are bound by memory bandwidth, and int8
    weights move a quarter of fp32's bytes (the README has the measured speed-ups).
    CUDA: bitsandbytes LLM.int8 (:data:`INT8_CUDA`), by default for the grounder only.
    """
    if options.load_in_8bit is False:
        return None, None
    explicit = options.load_in_8bit is True
    if device == "cpu":
        return (INT8_DYNAMIC, None) if explicit or options.dtype == "auto" else (None, None)
    if not explicit and role not in DEFAULT_8BIT_ROLES:
        return None, None
    if device != "cuda":
        return None, f"8-bit loading is not available on {device}; the {role} loads unquantized" if explicit else None
    if not has_bitsandbytes():
        return None, (
            f"8-bit loading needs bitsandbytes (pip install 'veille[cuda]'); the {role} loads unquantized"
            " (use --no-8bit to silence this)"
        )
    return INT8_CUDA, None


def load_kwargs(options: RuntimeOptions, *, role: str) -> tuple[dict[str, Any], ModelInfoFields]:
    """Keyword arguments for ``from_pretrained`` and how the model will be loaded.

    Always ``use_safetensors=True`` and ``trust_remote_code=False``; ``device_map="auto"`` on CUDA;
    ``quantization_config=BitsAndBytesConfig(load_in_8bit=True)`` only on CUDA with bitsandbytes.
    An 8-bit model's other layers are fp16 unless a dtype is forced: bitsandbytes multiplies in fp16
    and would otherwise cast every input (and log that on every call). On the CPU an int8 model is
    read in the precision its checkpoint is stored in (``dtype="auto"``: no converted copy) and
    quantized as it loads (``backends._hf.load_model``).
    """
    device = resolve_device(options.device)
    scheme, warning = eight_bit_plan(options, role=role, device=device)
    if warning:
        logger.warning("%s", warning)
    if scheme == INT8_DYNAMIC:
        if options.dtype not in ("auto", "fp32"):
            logger.warning("8-bit layers compute in fp32 on the CPU; --dtype %s is not used", options.dtype)
        load, dtype = "auto", "fp32"
    else:
        auto_fp16 = scheme == INT8_CUDA and options.dtype == "auto"
        load = dtype = "fp16" if auto_fp16 else resolve_dtype(options.dtype, device, role)
        if scheme == INT8_CUDA and dtype != "fp16":
            quiet_int8_casts()
    kwargs: dict[str, Any] = {
        "dtype": "auto" if load == "auto" else torch_dtype(load),
        "use_safetensors": True,
        "trust_remote_code": False,
    }
    if device == "cuda":
        kwargs["device_map"] = "auto"
    elif device == "mps":
        kwargs["device_map"] = "mps"
    if scheme == INT8_CUDA:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    return kwargs, ModelInfoFields(device=device, dtype=dtype, quantization=scheme)


def quiet_int8_casts() -> None:
    """Silence bitsandbytes' per-call notice that 8-bit products cast bf16/fp32 inputs to fp16.

    The cast is how LLM.int8 works; the notice repeats on every layer of every call (thousands of lines).
    """
    logger.info("8-bit products compute in fp16: inputs of other dtypes are cast on each call")
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)


def memory_bytes(device: str) -> int:
    """Memory in use: CUDA allocated bytes on CUDA, the process's resident set elsewhere."""
    if device == "cuda":
        import torch

        return int(torch.cuda.memory_allocated())
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def spare_bytes(device: Any) -> int:
    """Half of the memory still free on ``device`` (a torch device): what a working buffer may take."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0]) // 2
    import psutil

    return int(psutil.virtual_memory().available) // 2


def release(*objs: Any) -> None:
    """Drop the given references, collect garbage and empty the CUDA cache (when CUDA is in use).

    Callers must drop their own references too; this frees what nothing else holds.
    """
    del objs
    gc.collect()
    trim_heap()
    import sys

    torch = sys.modules.get("torch")  # never import torch just to free memory
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Without it, the memory of a released model, or of the weights an int8 model was made from, stays
    in the process's heap, where the next model cannot reuse it and the memory check counts it as
    taken (README "Memory and load time on the CPU"). Loading calls it every few hundred MB read, so
    freed memory never piles up.
    """
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: libc's on Linux
    except (OSError, AttributeError, TypeError):  # no malloc_trim (macOS, musl) or no CDLL(None) (Windows)
        return
