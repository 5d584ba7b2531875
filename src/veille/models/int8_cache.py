"""Where the int8 weights cache lives, and what it holds of each repo (``veille models list/rm``).

The entries' format is the backends' (:mod:`veille.backends.int8_store`). The folder: the
``int8_cache_dir`` setting (``VEILLE_INT8_CACHE_DIR``), else ``veille-int8`` beside the Hugging Face
hub cache (``~/.cache/huggingface/veille-int8`` by default). Imports neither torch nor transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from veille.backends.int8_store import entries_of, repo_label, unlink
from veille.models.cache import hub_cache_dir

ENV_KEY = "int8_cache_dir"  # VEILLE_INT8_CACHE_DIR, read like every VEILLE_* setting


def int8_cache_dir(hub_cache: Path | str | None = None, override: Path | str | None = None) -> Path:
    """The folder of the int8 cache: ``override``, else the setting from the environment, else beside the hub cache."""
    from veille import constants

    chosen = override or constants.VEILLE_ENV.get(ENV_KEY)
    if chosen:
        return Path(os.path.expandvars(str(chosen))).expanduser()
    return hub_cache_dir(hub_cache).parent / "veille-int8"


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
    return sum(unlink(p) for p in entries_of(int8_cache_dir(cache_dir, override), repo_label(repo_id)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
