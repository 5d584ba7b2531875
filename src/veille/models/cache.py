"""Where the Hugging Face cache lives and what it holds, as huggingface_hub itself reads it.

The folder follows huggingface_hub's precedence, read at call time: ``--cache-dir`` > ``HF_HUB_CACHE``
> legacy ``HUGGINGFACE_HUB_CACHE`` > legacy ``TRANSFORMERS_CACHE`` (no longer read by transformers 5;
veille passes the folder explicitly) > ``HF_HOME/hub`` > ``XDG_CACHE_HOME/huggingface/hub`` >
``~/.cache/huggingface/hub``.

Which snapshot a revision (branch, tag or commit) names, and whether it holds every file, is
huggingface_hub's answer: ``snapshot_download(local_files_only=True)`` reads the cache's refs and its
record of each commit's files, and never falls back to another revision. Sizes come from its cache
scanner. huggingface_hub is imported only when the repo's folder exists, so ``models list`` on a
cache without veille's models imports none of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
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
    """What the cache holds of one repo at one revision."""

    state: CacheState
    size_on_disk: int
    snapshot: Path | None


def cached_snapshot(
    repo_id: str,
    revision: str = "main",
    cache_dir: Path | str | None = None,
    allow_patterns: Sequence[str] | None = None,
) -> tuple[CacheState, Path | None]:
    """The snapshot of ``repo_id`` at ``revision``, with no network: complete, partial, or not cached.

    ``complete``: huggingface_hub finds the revision's snapshot with every file its record lists
    (of ``allow_patterns``), and it holds a ``config.json`` and safetensors weights (the only weights
    veille loads). A revision that is not in the cache is ``no``, whatever other revisions are there.
    """
    if not repo_folder(repo_id, cache_dir).is_dir():
        return "no", None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=str(hub_cache_dir(cache_dir)),
            local_files_only=True,
            allow_patterns=list(allow_patterns) if allow_patterns else None,
        )
    except IncompleteSnapshotError as exc:
        return "partial", Path(exc.snapshot_path)
    except LocalEntryNotFoundError:
        return "no", None
    snapshot = Path(folder)
    return ("complete" if _has_weights(snapshot) else "partial"), snapshot


def _has_weights(snapshot: Path) -> bool:
    """``config.json`` and every safetensors shard are there (checked also when the hub kept no file list)."""
    if not (snapshot / "config.json").is_file():
        return False
    index = snapshot / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, ValueError, AttributeError):
            return False
        return bool(shards) and all((snapshot / s).is_file() for s in shards)
    return any(p.name.endswith(".safetensors") and p.is_file() for p in snapshot.iterdir())


def repo_sizes(repo_ids: Iterable[str], cache_dir: Path | str | None = None) -> dict[str, int]:
    """Bytes on disk of each cached repo of ``repo_ids`` (absent: not in the cache).

    huggingface_hub's cache scanner counts each blob once; unfinished downloads (``*.incomplete``) are
    added, as they take space too. A repo the scanner finds damaged (a snapshot link whose blob is
    gone) is measured file by file.
    """
    folders = {repo_id: repo_folder(repo_id, cache_dir) for repo_id in repo_ids}
    present = {repo_id: folder for repo_id, folder in folders.items() if folder.is_dir()}
    if not present:
        return {}
    from huggingface_hub import scan_cache_dir

    scan = scan_cache_dir(hub_cache_dir(cache_dir))
    scanned = {repo.repo_path.name: repo.size_on_disk for repo in scan.repos}
    sizes = {}
    for repo_id, folder in present.items():
        size = scanned.get(folder.name)
        sizes[repo_id] = _dir_size(folder) if size is None else size
    for item in scan.incomplete_files:
        for repo_id, folder in present.items():
            if folder.name in scanned and item.file_path.parent.parent == folder:
                sizes[repo_id] += item.size_on_disk
    return sizes


def cache_info(
    repo_id: str,
    cache_dir: Path | str | None = None,
    revision: str = "main",
    allow_patterns: Sequence[str] | None = None,
    *,
    sizes: dict[str, int] | None = None,
) -> CacheInfo:
    """Whether ``repo_id`` is cached at ``revision`` (complete / partial / no), its size on disk and snapshot.

    ``partial`` also covers a repo cached only at other revisions. ``sizes`` (from :func:`repo_sizes`)
    saves a scan of the cache per repo.
    """
    size = (sizes if sizes is not None else repo_sizes([repo_id], cache_dir)).get(repo_id, 0)
    state, snapshot = cached_snapshot(repo_id, revision, cache_dir, allow_patterns)
    if state == "no" and size:
        state = "partial"
    return CacheInfo(state, size, snapshot)


def _dir_size(folder: Path) -> int:
    """Bytes of the files under ``folder``; links are not followed (a snapshot links to blobs counted already)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def remove_repo(repo_id: str, cache_dir: Path | str | None = None) -> int:
    """Delete ``repo_id`` from the cache; return the bytes freed (0 when it was not cached)."""
    import shutil

    folder = repo_folder(repo_id, cache_dir)
    if not folder.is_dir():
        return 0
    size = _dir_size(folder)
    shutil.rmtree(folder)
    return size
