"""safetensors read and written one tensor at a time: the same files as the safetensors library's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from veille.backends.tensorfile import TensorFileError, TensorReader, TensorWriter

TENSORS = {
    "a.weight": torch.randn(5, 3).to(torch.bfloat16),
    "a.bias": torch.randn(5),
    "b": torch.arange(-8, 8, dtype=torch.int8).reshape(4, 4),
    "c": torch.randn(2, 1, 3).half(),
    "empty": torch.zeros(0, 4),
}


def test_written_files_read_back_with_the_safetensors_library(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    writer = TensorWriter(path, [(n, t.dtype, t.shape) for n, t in TENSORS.items()], {"crc": "00000000"})
    for name, tensor in TENSORS.items():
        writer.write(name, tensor)
    writer.set_metadata("crc", "12345678")
    writer.close()
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"crc": "12345678"}
        assert all(torch.equal(f.get_tensor(n), t) for n, t in TENSORS.items())


def test_library_files_read_back_into_fresh_or_given_buffers(tmp_path: Path) -> None:
    path = tmp_path / "s.safetensors"
    save_file(TENSORS, str(path), metadata={"format": "pt"})
    with TensorReader(path) as reader:
        assert reader.metadata == {"format": "pt"}
        assert all(torch.equal(reader.read(n), t) for n, t in TENSORS.items())
        out = torch.empty(4, 4, dtype=torch.int8)
        assert reader.read("b", out) is out and torch.equal(out, TENSORS["b"])
        with pytest.raises(ValueError, match="do not fit"):
            reader.read("b", torch.empty(3, dtype=torch.int8))


def test_writing_out_of_order_or_short_is_refused(tmp_path: Path) -> None:
    writer = TensorWriter(tmp_path / "x.safetensors", [("a", torch.float32, (2,)), ("b", torch.float32, (2,))], {})
    with pytest.raises(ValueError, match="expected tensor a"):
        writer.write("b", torch.zeros(2))
    writer.write("a", torch.zeros(2))
    with pytest.raises(ValueError, match="1 tensors were not written"):
        writer.close()


DAMAGES = {
    "truncated": lambda raw: raw[:-7],
    "header cut": lambda raw: raw[:5],
    "header length": lambda raw: b"\xff" * 8 + raw[8:],
    "header json": lambda raw: raw[:8] + b"x" + raw[9:],
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_damaged_files_are_one_clear_error(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "d.safetensors"
    save_file(TENSORS, str(path))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(TensorFileError), TensorReader(path) as reader:
        for name in TENSORS:
            reader.read(name)
