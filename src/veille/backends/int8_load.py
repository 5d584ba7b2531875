"""Load a model straight into int8 on the CPU, one tensor at a time, from its checkpoint or the int8 cache.

``from_pretrained`` then quantizing holds the whole model in its stored precision (and, through the
memory map, the checkpoint file too) before the first layer becomes int8. Here the model is built
with its parameters on the ``meta`` device (no memory), the other tensors are read into place in
fp32, and each linear layer is read, quantized and packed on its own: memory peaks at the final
model plus one layer's working set. A model whose int8 weights are in the cache
(:mod:`veille.backends.int8_store`) skips the quantization and never reads its 16-bit linear weights.

Checkpoints whose names do not match the model's parameters one to one (older layouts that
transformers renames while loading) are not handled here: :func:`load_int8` returns ``None`` and
the caller loads them with ``from_pretrained``.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from torch import nn

from veille.backends import int8_store
from veille.backends.int8_layers import Layout, build_linears
from veille.backends.runtime import trim_heap
from veille.backends.tensorfile import TensorFileError, TensorReader

log = logging.getLogger(__name__)


def weight_files(path: Path) -> list[Path]:
    """The safetensors files of a model folder (one, or the shards its index names)."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [path / s for s in shards]
    return [path / "model.safetensors"] if (path / "model.safetensors").is_file() else []


def load_int8(
    auto_cls: Any, path: Path, *, cache: Path | None, repo_id: str | None = None, revision: str | None = None
) -> Any | None:
    """The model in ``path`` with int8 linear layers and the rest in fp32; ``None`` if it cannot be streamed.

    ``cache``: the int8 cache folder (``None``: no cache). A damaged or stale entry is rebuilt.
    """
    files = weight_files(path)
    if not files:
        return None
    started, cpu = time.perf_counter(), time.process_time()
    with ExitStack() as stack:
        try:
            readers = [stack.enter_context(TensorReader(f)) for f in files]
        except TensorFileError as exc:  # e.g. a dtype this reader does not know: transformers may
            log.info("%s: %s; loading it the usual way", path, exc)
            return None
        model = _skeleton(auto_cls, path)
        layout = _layout(model, readers)
        if layout is None:
            return None
        _load_params(model, layout)
        if _still_empty(model, layout):
            log.info("%s: some parameters are neither in the checkpoint nor tied; loading it the usual way", path)
            return None
        _load_buffers(model, layout)
        source = int8_store.source_of(path, files, repo_id, revision)
        origin = build_linears(model, layout, cache, source)
    model.float()  # buffers made in another dtype; the int8 layers have no parameters
    model.config.dtype = torch.float32
    _generation_config(model, path)
    trim_heap()
    log.info(
        "%s in int8 (%s) in %.1f s, %.1f s of CPU",
        source.label,
        "int8 weights from the cache" if origin == "cache" else "quantized",
        time.perf_counter() - started,
        time.process_time() - cpu,
    )
    return model.eval()


def _skeleton(auto_cls: Any, path: Path) -> Any:
    from accelerate import init_empty_weights
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    with init_empty_weights(include_buffers=False):  # parameters on meta, buffers (rotary tables...) computed
        model = auto_cls.from_config(config, trust_remote_code=False, dtype=torch.float32)
    model.config.name_or_path = str(path)
    return model


def _layout(model: Any, readers: list[TensorReader]) -> Layout | None:
    tensors = {name: reader for reader in readers for name in reader.entries}
    ties = getattr(model, "all_tied_weights_keys", None) or {}
    tied = set(ties) | set(ties.values())
    layout = Layout(tensors, [], [])
    modules: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if type(module) is nn.Linear:
            modules.setdefault(id(module), []).append(name)
    taken: set[str] = set()
    for names in modules.values():
        name, module = names[0], model.get_submodule(names[0])
        layout.aliases[name] = names
        keys = [f"{name}.weight"] + ([f"{name}.bias"] if module.bias is not None else [])
        if any(f"{n}.weight" in tied for n in names) or not all(k in tensors for k in keys):
            layout.tied_linears.append(name)
        else:
            layout.linears.append(name)
            taken.update(f"{n}.{leaf}" for n in names for leaf in ("weight", "bias"))
    groups: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if name not in taken:
            groups.setdefault(id(param), []).append(name)
    for aliases in groups.values():
        present = [n for n in aliases if n in tensors]
        if present:
            layout.params[present[0]] = aliases
        elif not any(n in tied for n in aliases):
            log.info("parameter %s is not in the checkpoint under that name", aliases[0])
            return None
    return layout


def _still_empty(model: Any, layout: Layout) -> set[str]:
    """Parameters on ``meta`` that no linear layer of ``layout`` will fill."""
    streamed = {f"{n}.{leaf}" for m in layout.linears for n in layout.aliases[m] for leaf in ("weight", "bias")}
    return {n for n, p in model.named_parameters(remove_duplicate=False) if p.is_meta} - streamed


def _set_param(model: Any, names: list[str], value: torch.Tensor) -> None:
    param = nn.Parameter(value, requires_grad=False)
    for name in names:
        owner, _, leaf = name.rpartition(".")
        model.get_submodule(owner)._parameters[leaf] = param


def _load_params(model: Any, layout: Layout) -> None:
    """The non-linear parameters in fp32, then the ties (an output layer sharing the embedding...)."""
    for source, aliases in layout.params.items():
        _set_param(model, aliases, layout.tensors[source].read(source).float())
    model.tie_weights(missing_keys=_still_empty(model, layout), recompute_mapping=False)


def _load_buffers(model: Any, layout: Layout) -> None:
    """Persistent buffers that the checkpoint holds (the others keep the values the model computed)."""
    parameters = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    for name in set(model.state_dict(keep_vars=True)) - parameters:
        if name in layout.tensors:
            owner, _, leaf = name.rpartition(".")
            module = model.get_submodule(owner)
            module._buffers[leaf] = layout.tensors[name].read(name).to(module._buffers[leaf].dtype)


def _generation_config(model: Any, path: Path) -> None:
    if not model.can_generate() or not (path / "generation_config.json").is_file():
        return
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig.from_pretrained(path)
