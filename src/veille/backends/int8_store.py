"""A local cache of int8 weights: a model quantized once loads from it afterwards, without quantizing again.

One safetensors file per model source, ``<cache>/<label>--<key>.safetensors``: for every linear
layer ``NAME`` its int8 weight ``NAME.weight``, fp32 scales ``NAME.scale`` and fp32 ``NAME.bias``.
Never pickle. The key digests the source's identity (repo and snapshot, or a local folder and its
files' sizes and times), the weight files' content names where the Hub cache gives them, and the
torch and transformers versions (a new kernel or loader may quantize or name layers differently).
The file's metadata repeats them and holds a CRC-32 per tensor: an entry whose metadata disagrees
or whose bytes fail their checksum is deleted and rebuilt, never used.

Where the folder is, and listing or removing a repo's entries, belong to the model management
(:mod:`veille.models.int8_cache`). Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "veille-int8/1"  # scheme + layout; change it when either changes
SUFFIX = ".safetensors"
ABANDONED_S = 600.0  # a temporary file older than this was left by a killed load


def repo_label(repo_id: str) -> str:
    """The file-name prefix of a repo's entries: ``org--name`` (as the hub cache names its folders)."""
    return repo_id.replace("/", "--")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a model's weights come from, and what identifies their content."""

    label: str
    identity: dict[str, Any]

    @property
    def key(self) -> str:
        """A digest of the identity and of the versions that shape the int8 weights."""
        import torch
        import transformers

        versions = {"format": FORMAT, "torch": torch.__version__, "transformers": transformers.__version__}
        blob = json.dumps({"source": self.identity, **versions}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def metadata(self) -> dict[str, str]:
        """What an entry's file records of its source and versions (checked on every load)."""
        import torch
        import transformers

        return {
            "format": FORMAT,
            "source": json.dumps(self.identity, sort_keys=True),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }


def source_of(path: Path, files: list[Path], repo_id: str | None = None, revision: str | None = None) -> Source:
    """The :class:`Source` of a model folder whose weights are ``files``.

    A Hub snapshot is named by repo and commit, and each file by the blob it links to (the Hub
    cache names large blobs by their SHA-256); a local folder by its absolute path and each file's
    size and modification time (a rewritten checkpoint gets a new entry).
    """
    path = Path(path).resolve()
    described: list[dict[str, Any]] = []
    for file in files:
        stat = file.stat()
        target = Path(os.path.realpath(file))
        blob = target.name if target.parent.name == "blobs" else None
        described.append(
            {"name": file.name, "size": stat.st_size, **({"blob": blob} if blob else {"mtime_ns": stat.st_mtime_ns})}
        )
    in_hub = path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--")
    if repo_id and "/" in repo_id and in_hub:
        identity = {"repo": repo_id, "revision": revision or path.name, "files": described}
        label = repo_label(repo_id)
    else:
        identity = {"folder": str(path), "files": described}
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        label = "local--" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:40] + "-" + digest
    return Source(label, identity)


def entry_path(cache: Path, source: Source) -> Path:
    """The file of ``source``'s entry."""
    return cache / f"{source.label}--{source.key}{SUFFIX}"


def entries_of(cache: Path, label: str) -> list[Path]:
    """Every entry file (current or stale) of a label, e.g. :func:`repo_label`'s."""
    if not cache.is_dir():
        return []
    prefix = f"{label}--"
    return sorted(p for p in cache.iterdir() if p.name.startswith(prefix) and p.name.endswith(SUFFIX))


def prune(cache: Path, source: Source, keep: Path | None = None) -> int:
    """Delete the entries of ``source``'s label other than ``keep`` (stale versions); the bytes freed."""
    freed = 0
    for path in entries_of(cache, source.label):
        if path != keep:
            freed += unlink(path)
    for tmp in cache.glob(f".{source.label}--*.tmp") if cache.is_dir() else []:
        if _age_s(tmp) > ABANDONED_S:  # left by a load that was killed (a live one keeps writing)
            freed += unlink(tmp)
    return freed


def _age_s(path: Path) -> float:
    import time

    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def unlink(path: Path) -> int:
    """Delete ``path`` if it can be; the bytes freed (0 when it could not)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return 0
    return size
