"""safetensors files read and written one tensor at a time, with plain file reads (no memory map).

A memory-mapped checkpoint counts in the process's resident memory for every page read, until the
file is closed: loading a model through a map holds the file's size on top of the model. Reading
each tensor into its own buffer holds only that tensor; the page cache still speeds up re-reads.

The writer streams: the header (names, dtypes, shapes, offsets) is written first, then each tensor
in order, so a file larger than memory can be written from parts that exist one at a time.
Format: https://github.com/huggingface/safetensors (8-byte little-endian header length, JSON header,
data).
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 << 20  # the safetensors limit


class TensorFileError(ValueError):
    """A file that is not a readable safetensors file (truncated, damaged, unknown dtype)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """Where one tensor lies in the file."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute file offset
    nbytes: int


class TensorReader:
    """The tensors of one safetensors file, read on demand (see the module docstring); safe across threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        self._lock = threading.Lock()
        try:
            self.entries, self.metadata = _parse_header(self._file, os.fstat(self._file.fileno()).st_size)
        except BaseException:
            self._file.close()
            raise

    def read(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """Tensor ``name`` in its stored dtype: a fresh buffer, or ``out`` (same size, contiguous) filled."""
        entry = self.entries[name]
        if out is None:
            out = torch.empty(entry.shape, dtype=entry.dtype)
        elif out.nbytes != entry.nbytes or not out.is_contiguous():
            raise ValueError(f"{name}: {entry.nbytes} bytes do not fit the buffer given")
        if entry.nbytes:
            self._read_into(entry.start, memoryview(out.reshape(-1).view(torch.uint8).numpy()), name)
        return out

    def _read_into(self, offset: int, view: memoryview, name: str) -> None:
        done = 0
        while done < len(view):
            if hasattr(os, "preadv"):  # positioned reads: threads need no lock
                got = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            else:
                with self._lock:
                    self._file.seek(offset + done)
                    got = self._file.readinto(view[done:]) or 0  # type: ignore[attr-defined]
            if not got:
                raise TensorFileError(f"{self.path} ends inside tensor {name}")
            done += got

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_header(f: BinaryIO, size: int) -> tuple[dict[str, Entry], dict[str, str]]:
    head = f.read(8)
    if len(head) < 8:
        raise TensorFileError("too short for a safetensors file")
    (length,) = struct.unpack("<Q", head)
    if length > min(MAX_HEADER, size - 8):
        raise TensorFileError("header length beyond the file")
    try:
        header = json.loads(f.read(length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TensorFileError(f"unreadable header ({exc})") from exc
    if not isinstance(header, dict):
        raise TensorFileError("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    base, entries = 8 + length, {}
    for name, spec in header.items():
        if isinstance(spec, dict) and spec.get("dtype") not in DTYPES:
            raise TensorFileError(f"tensor {name}: dtype {spec.get('dtype')} is not read here")
        try:
            dtype, shape = DTYPES[spec["dtype"]], tuple(int(n) for n in spec["shape"])
            start, stop = (int(n) for n in spec["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TensorFileError(f"tensor {name}: bad entry {spec!r}") from exc
        nbytes = math.prod(shape) * dtype.itemsize
        if stop - start != nbytes or start < 0 or base + stop > size:
            raise TensorFileError(f"tensor {name}: its bytes do not fit its shape or the file")
        entries[name] = Entry(dtype, shape, base + start, nbytes)
    return entries, {str(k): str(v) for k, v in metadata.items()}


class TensorWriter:
    """A safetensors file written tensor by tensor, in the order its header names them.

    ``specs`` fixes every tensor's name, dtype and shape; :meth:`write` must then be called for each,
    in that order. :meth:`set_metadata` may change metadata values to strings of the same length
    (e.g. checksums known only at the end) until :meth:`close`.
    """

    def __init__(
        self, path: Path | str, specs: Sequence[tuple[str, torch.dtype, Sequence[int]]], metadata: Mapping[str, str]
    ) -> None:
        self.path = Path(path)
        self._order = [name for name, _, _ in specs]
        self._specs = {name: (dtype, tuple(shape)) for name, dtype, shape in specs}
        self._metadata = dict(metadata)
        self._next = 0
        self._header_length = len(self._header())
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(struct.pack("<Q", self._header_length) + self._header())

    def _header(self) -> bytes:
        header: dict[str, Any] = {"__metadata__": self._metadata}
        offset = 0
        for name in self._order:
            dtype, shape = self._specs[name]
            nbytes = math.prod(shape) * dtype.itemsize
            header[name] = {"dtype": NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        return raw + b" " * (-len(raw) % 8)  # data aligned on 8 bytes, as safetensors writes it

    def write(self, name: str, tensor: torch.Tensor) -> memoryview:
        """Append ``tensor`` (the next one in order); returns its bytes as written."""
        expected = self._order[self._next] if self._next < len(self._order) else None
        dtype, shape = self._specs.get(name, (None, None))
        if name != expected or tensor.dtype != dtype or tuple(tensor.shape) != shape:
            raise ValueError(f"expected tensor {expected} {self._specs.get(expected or '')}, got {name} {tensor.dtype}")
        data = memoryview(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy())
        self._file.write(data)
        self._next += 1
        return data

    def set_metadata(self, key: str, value: str) -> None:
        """Replace a metadata value by one of the same length."""
        if len(value) != len(self._metadata[key]):
            raise ValueError(f"metadata {key} must keep its length")
        self._metadata[key] = value

    def close(self) -> None:
        """Rewrite the header with the final metadata and close; every tensor must have been written."""
        if self._next != len(self._order):
            self._file.close()
            raise ValueError(f"{len(self._order) - self._next} tensors were not written")
        header = self._header()
        if len(header) != self._header_length:  # cannot happen: values keep their lengths
            raise ValueError("the header changed length")
        self._file.seek(8)
        self._file.write(header)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        """Close and delete the unfinished file."""
        self._file.close()
        self.path.unlink(missing_ok=True)
