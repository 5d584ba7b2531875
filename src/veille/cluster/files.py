"""Inputs on a shared path or an object store, and report folders carried between nodes as bytes.

A local path must be the same on every node (a shared filesystem). A URL (``s3://``, ``gs://``,
``file://``…) is read through fsspec, whose backend for the scheme the user installs (``s3fs``,
``gcsfs``); the task copies the video to its node first. Report folders travel as
``{relative path: bytes}``: in to the task (what a previous run left: work cache, thumbnails), and
back to the driver, which writes each file atomically.
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path
from typing import Any

from veille.constants import VIDEO_EXTENSIONS
from veille.errors import InputNotFoundError, OutputError
from veille.io import write_bytes
from veille.redact import mask_credentials

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: Schemes and the package that reads them.
PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


def is_url(source: str) -> bool:
    """Whether ``source`` is a URL (``scheme://…``) rather than a path."""
    return bool(_URL.match(source))


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it; one line naming the package when missing."""
    scheme = url.split("://", 1)[0].lower()
    try:
        fsspec = importlib.import_module("fsspec")  # untyped; an optional dependency here
        fs, path = fsspec.core.url_to_fs(url)
        return fs, str(path)
    except ImportError:
        package = PACKAGES.get(scheme, "fsspec")
        shown = mask_credentials(url)
        raise InputNotFoundError(f"{shown}: reading {scheme}:// needs `pip install {package}`") from None


def expand_urls(url: str) -> list[str]:
    """The video files a URL names: the file itself, a folder's videos (recursively), or a glob's matches."""
    fs, path = _filesystem(url)
    scheme = url.split("://", 1)[0]
    if any(c in path for c in "*?["):
        found = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        found = [p for p in fs.find(path) if Path(p).suffix.lower() in VIDEO_EXTENSIONS]
    elif fs.exists(path):
        return [url]
    else:
        found = []
    if not found:
        raise InputNotFoundError(f"{mask_credentials(url)}: no video found there; check the address")
    return [f"{scheme}://{p}" for p in sorted(found)]


def fetch(url: str, dest_dir: Path) -> Path:
    """Copy the video at ``url`` into ``dest_dir`` (on this node); its path there."""
    fs, path = _filesystem(url)
    dest = dest_dir / Path(path).name
    with fs.open(path, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to it (empty when the folder is missing)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stage_folder(files: dict[str, bytes], folder: Path) -> None:
    """Write ``files`` under ``folder`` (a task's scratch copy of the report folder)."""
    for name, data in files.items():
        target = _inside(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def deliver(files: dict[str, bytes], folder: Path, *, keep: frozenset[str] = frozenset()) -> None:
    """Make ``folder`` hold ``files`` (each written atomically), removing what the analysis removed.

    A file of ``folder`` that is not in ``files`` (a thumbnail the report no longer shows) is deleted,
    except the names in ``keep`` (the folder's owner mark).
    """
    for name, data in files.items():
        target = _inside(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, data)
    for old in [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []:
        name = old.relative_to(folder).as_posix()
        if name not in files and name not in keep:
            old.unlink(missing_ok=True)


def _inside(folder: Path, name: str) -> Path:
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise OutputError(f"refusing to write {name!r}: it would leave {folder}")
    return target
