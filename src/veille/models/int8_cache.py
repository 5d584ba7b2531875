"""A local cache of int8 weights: a model quantized once loads from it afterwards, without quantizing again.

One safetensors file per model source, ``<cache>/<label>--<key>.safetensors``: for every linear
layer ``NAME`` its int8 weight ``NAME.weight``, fp32 scales ``NAME.scale`` and fp32 ``NAME.bias``.
Never pickle. The key digests the source's identity (repo and snapshot, or a local folder and its
files' sizes and times), the weight files' content names where the Hub cache gives them, and the
torch and transformers versions (a new kernel or loader may quantize or name layers differently).
The file's metadata repeats them and holds a CRC-32 per tensor: an entry whose metadata disagrees
or whose bytes fail their checksum is deleted and rebuilt, never used.

Where: ``int8_cache_dir`` setting (``VEILLE_INT8_CACHE_DIR``), else ``veille-int8`` beside the
Hugging Face hub cache (``~/.cache/huggingface/veille-int8`` by default). Importing this module
imports neither torch nor transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from veille.models.cache import hub_cache_dir

FORMAT = "veille-int8/1"  # scheme + layout; change it when either changes
SUFFIX = ".safetensors"
ENV_KEY = "int8_cache_dir"
ABANDONED_S = 600.0  # VEILLE_INT8_CACHE_DIR, read like every VEILLE_* setting


def int8_cache_dir(hub_cache: Path | str | None = None, override: Path | str | None = None) -> Path:
    """The folder of the int8 cache: ``override``, else the setting from the environment, else beside the hub cache."""
    from veille import constants

    chosen = override or constants.VEILLE_ENV.get(ENV_KEY)
    if chosen:
        return Path(os.path.expandvars(str(chosen))).expanduser()
    return hub_cache_dir(hub_cache).parent / "veille-int8"


def repo_label(repo_id: str) -> str:
    """The file-name prefix of a repo's entries: ``org--name`` (as the hub cache names its folders)."""
    return repo_id.replace("/", "--")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a model's weights come from, and what identifies their content."""

    label: str
    identity: dict

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
    described = []
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
            freed += _unlink(path)
    for tmp in cache.glob(f".{source.label}--*.tmp") if cache.is_dir() else []:
        if _age_s(tmp) > ABANDONED_S:  # left by a load that was killed (a live one keeps writing)
            freed += _unlink(tmp)
    return freed


def _age_s(path: Path) -> float:
    import time

    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return 0
    return size


@dataclass(frozen=True, slots=True)
class Int8CacheInfo:
    """What the int8 cache holds of one repo."""

    entries: int
    size_on_disk: int


def repo_int8_info(
    repo_id: str, cache_dir: Path | str | None = None, override: Path | str | None = None
) -> Int8CacheInfo:
    """How many int8 entries of ``repo_id`` are cached (one per snapshot and version), and their size."""
    paths = entries_of(int8_cache_dir(cache_dir, override), repo_label(repo_id))
    return Int8CacheInfo(len(paths), sum(_size(p) for p in paths))


def remove_repo_int8(repo_id: str, cache_dir: Path | str | None = None, override: Path | str | None = None) -> int:
    """Delete every int8 entry of ``repo_id``; the bytes freed."""
    return sum(_unlink(p) for p in entries_of(int8_cache_dir(cache_dir, override), repo_label(repo_id)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
