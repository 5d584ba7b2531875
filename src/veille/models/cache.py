"""Where the Hugging Face cache lives and what it holds, read from the file system only.

Follows huggingface_hub's precedence: ``--cache-dir`` > ``HF_HUB_CACHE`` > legacy
``HUGGINGFACE_HUB_CACHE`` > legacy ``TRANSFORMERS_CACHE`` (no longer read by transformers 5; veille
passes the folder explicitly) > ``HF_HOME/hub`` > ``XDG_CACHE_HOME/huggingface/hub`` >
``~/.cache/huggingface/hub``. No import of huggingface_hub, so ``--list-models`` starts fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CacheState = Literal["complete", "partial", "no"]


def hub_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The folder holding ``models--org--name`` repos."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE"):
        if env.get(name):
            return Path(os.path.expandvars(env[name])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def repo_folder(repo_id: str, cache_dir: Path | str | None = None) -> Path:
    """``<cache>/models--org--name``."""
    return hub_cache_dir(cache_dir) / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What the cache holds of one repo."""

    state: CacheState
    size_on_disk: int
    snapshot: Path | None


def _dir_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _snapshot(folder: Path, revision: str) -> Path | None:
    ref = folder / "refs" / revision
    snapshots = folder / "snapshots"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    if (snapshots / revision).is_dir():
        return snapshots / revision
    dirs = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return dirs[-1] if dirs else None


def _is_complete(snapshot: Path) -> bool:
    names = {p.name for p in snapshot.iterdir()}
    if "config.json" not in names:
        return False
    index = snapshot / "model.safetensors.index.json"
    if index.is_file():
        import json

        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        return all((snapshot / s).exists() for s in shards)
    return any(n.endswith(".safetensors") and (snapshot / n).exists() for n in names)


def cache_info(repo_id: str, cache_dir: Path | str | None = None, revision: str = "main") -> CacheInfo:
    """Whether ``repo_id`` is cached (complete / partial / no), its size on disk and snapshot."""
    folder = repo_folder(repo_id, cache_dir)
    if not folder.is_dir():
        return CacheInfo("no", 0, None)
    size = _dir_size(folder)
    snapshot = _snapshot(folder, revision)
    incomplete_blobs = any((folder / "blobs").glob("*.incomplete")) if (folder / "blobs").is_dir() else False
    if snapshot is not None and _is_complete(snapshot) and not incomplete_blobs:
        return CacheInfo("complete", size, snapshot)
    return CacheInfo("partial" if size else "no", size, snapshot)


def remove_repo(repo_id: str, cache_dir: Path | str | None = None) -> int:
    """Delete ``repo_id`` from the cache; return the bytes freed (0 when it was not cached)."""
    import shutil

    folder = repo_folder(repo_id, cache_dir)
    if not folder.is_dir():
        return 0
    size = _dir_size(folder)
    shutil.rmtree(folder)
    return size
