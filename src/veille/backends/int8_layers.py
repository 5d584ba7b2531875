"""The linear layers of a model streamed into int8: read from the int8 cache, or quantized and cached.

Layers are made by :data:`WORKERS` threads (reading, checksums and packing release the GIL), at
most one layer's weight bytes in flight beyond the one being finished, and handed back in order:
the cache file is written in that order and each layer replaces its placeholder at once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from veille.backends import int8_store
from veille.backends.int8 import Int8Linear, empty_qtensor, quantize_rows
from veille.backends.runtime import trim_heap
from veille.backends.tensorfile import TensorFileError, TensorReader, TensorWriter

log = logging.getLogger(__name__)
WORKERS = 2
TRIM_EVERY = 32 << 20  # hand freed memory back to the system every this many bytes read
CRC_KEY = "crc32"
T = TypeVar("T")
R = TypeVar("R")


class CacheDamaged(Exception):
    """An int8 cache entry that cannot be trusted."""


@dataclass
class Layout:
    """How the checkpoint's tensors map onto the model skeleton."""

    tensors: dict[str, TensorReader]  # checkpoint name -> the file holding it
    linears: list[str]  # nn.Linear modules whose weights are read from the checkpoint (or the cache)
    tied_linears: list[str]  # nn.Linear modules whose weight is tied to another parameter
    params: dict[str, list[str]] = field(default_factory=dict)  # other parameters: checkpoint name -> aliases
    aliases: dict[str, list[str]] = field(default_factory=dict)  # linear module -> every name it has
    bias: set[str] = field(default_factory=set)  # linear modules with a bias


def build_linears(model: Any, layout: Layout, cache: Path | None, source: int8_store.Source) -> str:
    """Every linear layer of ``model`` in int8: from the cache entry if it is sound, else quantized (and cached).

    Returns where the int8 weights came from: ``"cache"`` or ``"quantized"``.
    """
    for name in layout.tied_linears:  # from the parameter they share (an output layer tied to the embedding...)
        _replace(model, layout, name, Int8Linear.from_linear(model.get_submodule(name)))
    layout.bias = {n for n in layout.linears if model.get_submodule(n).bias is not None}
    entry = int8_store.entry_path(cache, source) if cache is not None else None
    if entry is not None and entry.is_file():
        try:
            _from_cache(model, layout, entry, source)
            log.debug("int8 weights of %s read from %s", source.label, entry)
            return "cache"
        except (CacheDamaged, TensorFileError, OSError) as exc:
            log.warning("the int8 cache entry %s is damaged or stale (%s); quantizing again", entry.name, exc)
            entry.unlink(missing_ok=True)
    writer = _writer(model, layout, cache, source)
    try:
        _from_checkpoint(model, layout, writer)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None and cache is not None and entry is not None:
        _finish(writer, entry, cache, source)
    return "quantized"


def _replace(model: Any, layout: Layout, name: str, layer: Int8Linear) -> None:
    for alias in layout.aliases.get(name, [name]):
        owner, _, leaf = alias.rpartition(".")
        setattr(model.get_submodule(owner), leaf, layer)


def in_order(items: Iterable[T], work: Callable[[T], R], size: Callable[[T], int]) -> Iterator[R]:
    """``work(item)`` for each item, in order, run by :data:`WORKERS` threads.

    A new item starts only while the items in flight weigh no more than the heaviest one alone
    (``size``), so memory holds at most about one layer's worth of work beyond the layer handed back.
    """
    items = list(items)
    budget = max((size(i) for i in items), default=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the threads share the cores; no nested parallel regions
    pending: deque[tuple[Future[R], int]] = deque()
    try:
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="int8") as pool:
            try:
                for item in items:
                    weight = size(item)
                    while pending and (len(pending) >= WORKERS or sum(w for _, w in pending) + weight > budget):
                        yield pending.popleft()[0].result()
                    pending.append((pool.submit(work, item), weight))
                while pending:
                    yield pending.popleft()[0].result()
            finally:
                for future, _ in pending:
                    future.cancel()
    finally:
        torch.set_num_threads(threads)


def _specs(model: Any, layout: Layout) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    specs = []
    for name in layout.linears:
        module = model.get_submodule(name)
        rows, cols = module.out_features, module.in_features
        specs += [(f"{name}.weight", torch.int8, (rows, cols)), (f"{name}.scale", torch.float32, (rows,))]
        if name in layout.bias:
            specs.append((f"{name}.bias", torch.float32, (rows,)))
    return specs


def _writer(model: Any, layout: Layout, cache: Path | None, source: int8_store.Source) -> TensorWriter | None:
    """A writer for a new cache entry, or ``None`` when there is no cache, no room or no right to write."""
    if cache is None or not layout.linears:
        return None
    specs = _specs(model, layout)
    size = sum(torch.Size(shape).numel() * dtype.itemsize for _, dtype, shape in specs)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(cache).free
        if free < size + (256 << 20):
            log.warning("not caching int8 weights: %s has %d MB free, %d MB needed", cache, free >> 20, size >> 20)
            return None
        int8_store.prune(cache, source)  # stale entries and files left by a killed load
        metadata = {**source.metadata(), CRC_KEY: json.dumps({n: "0" * 8 for n, _, _ in specs})}
        return TensorWriter(cache / f".{source.label}--{source.key}.{os.getpid()}.tmp", specs, metadata)
    except OSError as exc:
        log.warning("not caching int8 weights in %s: %s", cache, exc)
        return None


@dataclass
class _Made:
    """One layer quantized by a worker, with what the cache keeps of it."""

    name: str
    layer: Int8Linear
    parts: list[tuple[str, torch.Tensor]]
    crcs: dict[str, str]


def _from_checkpoint(model: Any, layout: Layout, writer: TensorWriter | None) -> None:
    def make(name: str) -> _Made:
        key = f"{name}.weight"
        values, scales = quantize_rows(layout.tensors[key].read(key))
        bias = layout.tensors[f"{name}.bias"].read(f"{name}.bias").float() if name in layout.bias else None
        parts = [(key, values), (f"{name}.scale", scales)] + ([(f"{name}.bias", bias)] if bias is not None else [])
        crcs = {k: _crc(t) for k, t in parts} if writer is not None else {}
        return _Made(name, Int8Linear.from_int8(values, scales, bias), parts, crcs)

    crcs: dict[str, str] = {}
    read = 0
    for made in in_order(layout.linears, make, lambda n: _stored_bytes(layout, n)):
        if writer is not None:
            for key, tensor in made.parts:
                writer.write(key, tensor)
            crcs.update(made.crcs)
        _replace(model, layout, made.name, made.layer)
        read += _stored_bytes(layout, made.name)
        del made
        if read >= TRIM_EVERY:
            trim_heap()
            read = 0
    if writer is not None:
        writer.set_metadata(CRC_KEY, json.dumps(crcs))


def _stored_bytes(layout: Layout, name: str) -> int:
    return layout.tensors[f"{name}.weight"].entries[f"{name}.weight"].nbytes


def _crc(tensor: torch.Tensor) -> str:
    data = memoryview(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy())
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def _finish(writer: TensorWriter, entry: Path, cache: Path, source: int8_store.Source) -> None:
    try:
        writer.close()
        writer.path.replace(entry)
    except (OSError, ValueError) as exc:
        log.warning("could not write the int8 cache entry %s: %s", entry, exc)
        writer.path.unlink(missing_ok=True)
        return
    int8_store.prune(cache, source, keep=entry)
    log.info("int8 weights of %s cached in %s", source.label, entry)


def _from_cache(model: Any, layout: Layout, entry: Path, source: int8_store.Source) -> None:
    with TensorReader(entry) as reader:
        if any(reader.metadata.get(k) != v for k, v in source.metadata().items()):
            raise CacheDamaged("made from another source or version")
        try:
            crcs = json.loads(reader.metadata[CRC_KEY])
        except (KeyError, ValueError) as exc:
            raise CacheDamaged("no checksums") from exc
        for key, dtype, shape in _specs(model, layout):
            found = reader.entries.get(key)
            if found is None or found.dtype != dtype or found.shape != shape:
                raise CacheDamaged(f"{key} is missing or of another shape")

        def make(name: str) -> tuple[str, Int8Linear]:
            scales = _checked(reader, f"{name}.scale", crcs)
            rows, cols = reader.entries[f"{name}.weight"].shape
            qweight, values = empty_qtensor((rows, cols), scales)
            _checked(reader, f"{name}.weight", crcs, out=values)
            bias = _checked(reader, f"{name}.bias", crcs) if name in layout.bias else None
            return name, Int8Linear.from_qtensor(qweight, bias)

        read = 0
        for name, layer in in_order(layout.linears, make, lambda n: reader.entries[f"{n}.weight"].nbytes):
            _replace(model, layout, name, layer)
            read += reader.entries[f"{name}.weight"].nbytes
            del layer
            if read >= TRIM_EVERY:
                trim_heap()
                read = 0


def _checked(reader: TensorReader, key: str, crcs: dict[str, str], out: torch.Tensor | None = None) -> torch.Tensor:
    tensor = reader.read(key, out)
    if _crc(tensor) != crcs.get(key):
        raise CacheDamaged(f"{key} fails its checksum")
    return tensor
