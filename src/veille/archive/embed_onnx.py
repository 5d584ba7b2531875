"""The text embedder run by ONNX Runtime: the same model and weights, exported once to an ONNX graph.

On 2 CPU cores ONNX Runtime reads a short query through all-MiniLM-L6-v2 in about 6 ms where PyTorch
takes about 20 ms (its weights are laid out for its matrix kernels once, at load, and the attention
is fused), and batches of events a little faster too (``benchmarks/search.py``). The graph is exported
from the loaded PyTorch model (fp32, ``torch.onnx``), checked against PyTorch on a few probe texts
each time it is loaded, and kept beside the Hugging Face cache (``veille-onnx/``), keyed by the model
folder's files and the versions of the exporter and runtime. The embeddings are the same numbers to
about 1e-6, so an index embedded by either runtime is searched by the other.

``VEILLE_EMBED_RUNTIME``: ``auto`` (the default: ONNX Runtime, PyTorch when the graph cannot be made
or fails its check), ``onnx`` (an error instead of the fallback) or ``torch``. ``VEILLE_ONNX_CACHE_DIR``
moves the graphs' folder.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from veille.errors import ModelError

ENV = "VEILLE_EMBED_RUNTIME"
CACHE_ENV = "VEILLE_ONNX_CACHE_DIR"
RUNTIMES = ("auto", "onnx", "torch")
FORMAT = "veille-onnx/1"  # change it when the export changes
OPSET = 17
#: The largest difference allowed between the graph's embeddings and PyTorch's (unit vectors).
TOLERANCE = 1e-4
#: Texts both runtimes embed before the graph is used: one word, a sentence, and a batch that pads.
PROBES = ("x", "a man walks past the gate", "two people climb over the fence at night and one carries a bag")
_IDENTITY_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json")


def wanted_runtime() -> str:
    """The runtime asked for in ``VEILLE_EMBED_RUNTIME`` (``auto`` when unset)."""
    value = os.environ.get(ENV, "").strip().lower() or "auto"
    if value not in RUNTIMES:
        raise ModelError(f"{ENV}={value!r} is not a runtime; give one of {', '.join(RUNTIMES)}")
    return value


def cache_dir() -> Path:
    """Where exported graphs are kept: ``VEILLE_ONNX_CACHE_DIR``, else ``veille-onnx`` beside the hub cache."""
    from veille.models.cache import hub_cache_dir

    chosen = os.environ.get(CACHE_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else hub_cache_dir().parent / "veille-onnx"


def graph_key(model_dir: Path) -> str:
    """A digest of the model folder's files (names, sizes, times) and the exporter's and runtime's versions."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    parts = [FORMAT, str(model_dir.resolve()), torch.__version__, transformers.__version__, onnx.__version__]
    parts.append(onnxruntime.__version__)
    for name in _IDENTITY_FILES:
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


class OnnxEncoder:
    """An ONNX Runtime session of an exported embedding model: token ids and mask in, token vectors out."""

    def __init__(self, graph: Path, threads: int) -> None:
        """Open ``graph`` on the CPU with ``threads`` threads that sleep, not spin, between calls."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its notes on graph optimisation are not for users
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last hidden states, float32, shape ``(batch, tokens, dim)``."""
        feed = {"input_ids": ids.astype(np.int64, copy=False), "attention_mask": mask.astype(np.int64, copy=False)}
        return np.asarray(self.session.run(None, feed)[0])


def export(model: Any, tokenizer: Any, dest: Path) -> None:
    """Export ``model`` (a transformers encoder) to ``dest`` with batch and length left free; atomic."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(list(PROBES[1:]), padding=True, return_tensors="pt")  # padded: the mask is traced in use
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    free = {0: "batch", 1: "tokens"}
    try:
        # the exporter's tracing and deprecation warnings are about its own workings: not shown
        with warnings.catch_warnings(action="ignore"), torch.inference_mode():
            torch.onnx.export(
                Hidden(model).eval(),
                (sample["input_ids"], sample["attention_mask"]),
                str(partial),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                dynamic_axes={"input_ids": free, "attention_mask": free, "hidden": free},
                opset_version=OPSET,
            )
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)


def open_graph(
    model: Any, tokenizer: Any, model_dir: Path, threads: int, *, exporting: Callable[[], None] | None = None
) -> OnnxEncoder:
    """The model's graph, exported on first use and kept; raises when it cannot be made or opened.

    ``exporting`` is called before an export (a few seconds: the caller may say so).
    """
    graph = cache_dir() / f"{model_dir.name}--{graph_key(model_dir)}.onnx"
    if not graph.is_file():
        if exporting is not None:
            exporting()
        export(model, tokenizer, graph)
    try:
        return OnnxEncoder(graph, threads)
    except Exception:  # a damaged file left by a crash: made again once
        graph.unlink(missing_ok=True)
        export(model, tokenizer, graph)
        return OnnxEncoder(graph, threads)


def largest_difference(first: np.ndarray, second: np.ndarray) -> float:
    """The largest absolute difference between two sets of embeddings of the same texts."""
    if first.shape != second.shape:
        return float("inf")
    return float(np.abs(first - second).max()) if first.size else 0.0
