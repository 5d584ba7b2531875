"""The search's embedder on ONNX Runtime: the real MiniLM exported once, PyTorch's numbers, a safe fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from veille.archive import embed_onnx
from veille.archive.embedder import Embedder, default_model_dir, load_embedder
from veille.errors import ModelError

TEXTS = [
    "A man in a dark jacket tries the handle of the back door, then walks away.",
    "white van",
    "Two people climb over the fence at night; one carries a large bag to the loading dock.",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty graph cache for this test only."""
    folder = tmp_path / "graphs"
    monkeypatch.setenv(embed_onnx.CACHE_ENV, str(folder))
    return folder


def test_the_default_embedder_runs_on_onnx_runtime_with_pytorchs_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = load_embedder()
    torch_only = Embedder(onnx.name, default_model_dir(), runtime="torch")
    assert onnx.runtime == "onnx" and onnx.note is None and torch_only.runtime == "torch"
    assert list(embed_onnx.cache_dir().glob("model--*.onnx")), "the graph is kept for the next process"
    batches: list[tuple[int, ...]] = []
    real = embed_onnx.OnnxEncoder.__call__

    def counted(self: embed_onnx.OnnxEncoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batches.append(ids.shape)
        return real(self, ids, mask)

    monkeypatch.setattr(embed_onnx.OnnxEncoder, "__call__", counted)
    got, expected = onnx.encode(TEXTS), torch_only.encode(TEXTS)
    assert batches and batches[0][0] == 3, "the texts went through ONNX Runtime"
    assert got.shape == expected.shape == (3, 384)
    assert np.abs(got - expected).max() < 1e-4
    alone = onnx.encode([TEXTS[1]])[0]  # a query: one text, no padding
    assert float(alone @ expected[1]) > 0.9999


def test_a_kept_graph_is_used_again_without_exporting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = _fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a person at a terminal is told why it pauses
    first = Embedder("m", default_model_dir(), runtime="onnx")
    assert capsys.readouterr().err == "veille: preparing the search model for ONNX Runtime (once, a few seconds)…\n"
    (graph,) = folder.glob("*.onnx")
    made = graph.stat().st_mtime_ns

    def no_export(*_args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(embed_onnx, "export", no_export)
    second = Embedder("m", default_model_dir(), runtime="onnx")
    assert second.runtime == "onnx" and graph.stat().st_mtime_ns == made
    assert capsys.readouterr().err == ""
    assert np.abs(first.encode(TEXTS) - second.encode(TEXTS)).max() == 0


def test_a_damaged_graph_is_made_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _fresh(monkeypatch, tmp_path)
    graph = folder / f"model--{embed_onnx.graph_key(default_model_dir())}.onnx"
    folder.mkdir()
    graph.write_bytes(b"not a graph")  # as a crash or a full disk could leave it
    embedder = Embedder("m", default_model_dir(), runtime="onnx")
    assert embedder.runtime == "onnx" and graph.stat().st_size > 1_000_000


def test_a_graph_that_cannot_be_made_leaves_pytorch_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fresh(monkeypatch, tmp_path)

    def broken(*_args: object) -> None:
        raise RuntimeError("the exporter broke\nwith details")

    monkeypatch.setattr(embed_onnx, "export", broken)
    embedder = Embedder("m", default_model_dir())
    assert embedder.runtime == "torch" and embedder.note is not None
    assert "the exporter broke" in embedder.note and "\n" not in embedder.note
    assert embedder.encode(TEXTS).shape == (3, 384)
    with pytest.raises(ModelError, match="cannot run the embedding model m with ONNX Runtime"):
        Embedder("m", default_model_dir(), runtime="onnx")


def test_a_graph_whose_numbers_differ_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fresh(monkeypatch, tmp_path)
    real = embed_onnx.OnnxEncoder.__call__

    def drifted(self: embed_onnx.OnnxEncoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = real(self, ids, mask)
        hidden[..., 0] += 0.5  # as a wrong export or a broken kernel would
        return hidden

    monkeypatch.setattr(embed_onnx.OnnxEncoder, "__call__", drifted)
    embedder = Embedder("m", default_model_dir())
    assert embedder.runtime == "torch" and "differ from PyTorch's" in str(embedder.note)


def test_the_runtime_is_chosen_in_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _fresh(monkeypatch, tmp_path)
    monkeypatch.setenv(embed_onnx.ENV, "torch")
    assert Embedder("m", default_model_dir()).runtime == "torch"
    assert not folder.exists(), "nothing exported when PyTorch is asked for"
    monkeypatch.setenv(embed_onnx.ENV, "tensorflow")
    with pytest.raises(ModelError, match="VEILLE_EMBED_RUNTIME='tensorflow' is not a runtime; give one of auto"):
        Embedder("m", default_model_dir())
