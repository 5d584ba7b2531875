"""Where the Hugging Face cache lives and what it holds, as huggingface_hub itself reads it.

The folder follows huggingface_hub's precedence, read at call time: ``--cache-dir`` > ``HF_HUB_CACHE``
> legacy ``HUGGINGFACE_HUB_CACHE`` > legacy ``TRANSFORMERS_CACHE`` (no longer read by transformers 5;
veille passes the folder explicitly) > ``HF_HOME/hub`` > ``XDG_CACHE_HOME/huggingface/hub`` >
``~/.cache/huggingface/hub``.

Which snapshot a revision (branch, tag or commit) names is huggingface_hub's answer, never another
revision's snapshot: before a model is used, ``snapshot_download(local_files_only=True)``, which also
checks the snapshot against its record of the commit's files; for listings, its cache scanner, which
imports in a fraction of the time. huggingface_hub is imported only when a repo's folder exists, so
``models list`` on a cache without veille's models imports none of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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


def cache_infos(wanted: Sequence[tuple[str, str]], cache_dir: Path | str | None = None) -> list[CacheInfo]:
    """What the cache holds of each ``(repo_id, revision)``, from one pass of huggingface_hub's cache scanner.

    For listings: the scanner (not the downloader, which takes seconds to import) reads the refs, the
    snapshots and the blob sizes, each blob counted once, unfinished downloads (``*.incomplete``) added.
    The revision's snapshot is ``complete`` when it holds a ``config.json`` and its safetensors; the
    full check of every file happens when the model is used (:func:`cached_snapshot`), where a partial
    snapshot resumes. A repo cached only at other revisions is ``partial``, as is one the scanner finds
    damaged (a snapshot link whose blob is gone), measured file by file.
    """
    folders = [repo_folder(repo_id, cache_dir) for repo_id, _revision in wanted]
    if not any(folder.is_dir() for folder in folders):
        return [CacheInfo("no", 0, None) for _ in wanted]
    from huggingface_hub import scan_cache_dir

    scan = scan_cache_dir(hub_cache_dir(cache_dir))
    repos = {repo.repo_path.name: repo for repo in scan.repos}
    unfinished: dict[str, int] = {}
    for item in scan.incomplete_files:
        name = item.file_path.parent.parent.name
        unfinished[name] = unfinished.get(name, 0) + item.size_on_disk
    out = []
    for (_repo_id, revision), folder in zip(wanted, folders, strict=True):
        repo = repos.get(folder.name)
        if repo is None:
            size = _dir_size(folder) if folder.is_dir() else 0
            out.append(CacheInfo("partial" if size else "no", size, None))
            continue
        size = repo.size_on_disk + unfinished.get(folder.name, 0)
        cached = repo.refs.get(revision) or next((r for r in repo.revisions if r.commit_hash == revision), None)
        if cached is None:
            out.append(CacheInfo("partial" if size else "no", size, None))
        else:
            complete = _has_weights(cached.snapshot_path)
            out.append(CacheInfo("complete" if complete else "partial", size, cached.snapshot_path))
    return out


def cache_info(repo_id: str, cache_dir: Path | str | None = None, revision: str = "main") -> CacheInfo:
    """What the cache holds of ``repo_id`` at ``revision`` (see :func:`cache_infos`)."""
    return cache_infos([(repo_id, revision)], cache_dir)[0]


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
