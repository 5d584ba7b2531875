"""Model name → local folder: cache first, then huggingface_hub downloads with checks and retries.

Safetensors only (the catalog's ``allow_patterns``), free disk space checked before the first
byte, bounded exponential-backoff retries on connection errors, timeouts and HTTP 5xx (partial
files resume through huggingface_hub), and one clear :class:`~veille.errors.ModelError` per
failure. Offline mode must be set before huggingface_hub is imported
(:func:`veille.constants.apply_offline`).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from veille import constants
from veille.errors import DiskSpaceError, ModelDownloadError, ModelError, ModelNotCachedError
from veille.models.cache import cache_info, hub_cache_dir
from veille.models.catalog import SAFE_PATTERNS, CatalogEntry, lookup
from veille.models.progress import DownloadReporter, NullReporter, human_bytes, tqdm_class_for

logger = logging.getLogger(__name__)
T = TypeVar("T")
REPO_ID = re.compile(r"^[\w.\-]+/[\w.\-]+$")
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0
DISK_MARGIN_BYTES = 50_000_000  # keep a little room beyond the files themselves


@dataclass(frozen=True, slots=True)
class ModelSource:
    """What a model spec names: a local folder, or a repo (with its catalog entry when known)."""

    spec: str
    repo_id: str | None
    local_dir: Path | None
    revision: str
    allow_patterns: tuple[str, ...]
    entry: CatalogEntry | None = None

    @property
    def label(self) -> str:
        """A name for messages: the catalog name, repo id or folder."""
        return self.entry.name if self.entry else self.spec


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model on local disk."""

    path: Path
    model_id: str
    revision: str | None


def source_for(spec: str, *, revision: str | None = None) -> ModelSource:
    """Interpret ``spec``: catalog name, ``org/name`` repo id, or an existing local folder.

    ``NAME@REV`` (e.g. ``smolvlm@<commit sha>``) pins a branch, tag or commit.
    """
    if "@" in spec and not Path(spec).expanduser().exists():
        spec, _, pinned = spec.rpartition("@")
        revision = revision or pinned
    entry = lookup(spec)
    if entry is not None:
        return ModelSource(spec, entry.repo_id, None, revision or entry.revision, entry.allow_patterns, entry)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelSource(spec, None, path, revision or "local", SAFE_PATTERNS)
    if REPO_ID.match(spec) and not spec.startswith((".", "/")):
        return ModelSource(spec, spec, None, revision or "main", SAFE_PATTERNS)
    raise ModelError(
        f"unknown model '{spec}': give a catalog name (see `veille models list`), a Hugging Face repo id"
        " like org/name, or an existing model folder"
    )


def ensure_model(
    spec: str,
    *,
    cache_dir: Path | None = None,
    revision: str | None = None,
    reporter: DownloadReporter | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> ResolvedModel:
    """The local folder of ``spec``: a cached snapshot with no network at all, else a download.

    Raises:
        ModelNotCachedError: offline and not cached.
        ModelError: unknown name, missing or gated repo, bad revision; subclasses for network and disk.
    """
    source = source_for(spec, revision=revision)
    if source.local_dir is not None:
        return ResolvedModel(source.local_dir, str(source.local_dir), None)
    assert source.repo_id is not None
    info = cache_info(source.repo_id, cache_dir, source.revision)
    if info.state == "complete" and info.snapshot is not None:
        return ResolvedModel(info.snapshot, source.repo_id, info.snapshot.name)
    if constants.is_offline():
        raise _not_cached(source)
    path = download(source, cache_dir=cache_dir, reporter=reporter, retries=retries, backoff_s=backoff_s)
    return ResolvedModel(path, source.repo_id, path.name)


def download(
    source: ModelSource,
    *,
    cache_dir: Path | None = None,
    reporter: DownloadReporter | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> Path:
    """Fetch the allowed files of ``source`` into the cache (resuming partial files); return the snapshot."""
    import huggingface_hub as hf

    if source.repo_id is None:
        assert source.local_dir is not None
        return source.local_dir
    if constants.is_offline():
        info = cache_info(source.repo_id, cache_dir, source.revision)
        if info.state == "complete" and info.snapshot is not None:
            return info.snapshot
        raise _not_cached(source)
    reporter = reporter or NullReporter()
    common: dict[str, Any] = {"revision": source.revision, "cache_dir": str(hub_cache_dir(cache_dir))}
    patterns = list(source.allow_patterns)

    def call(func: Callable[[], T]) -> T:
        return _with_retries(func, source=source, reporter=reporter, retries=retries, backoff_s=backoff_s)

    plan = call(lambda: hf.snapshot_download(source.repo_id, allow_patterns=patterns, dry_run=True, **common))
    todo = [f for f in plan if f.will_download]
    if not any(f.filename.endswith(".safetensors") for f in plan):
        raise ModelError(f"{source.repo_id} has no safetensors weights; veille loads safetensors only")
    check_disk_space(source, sum(f.file_size or 0 for f in todo), cache_dir)
    if todo:
        missing = human_bytes(sum(f.file_size or 0 for f in todo))
        reporter.message(f"{source.label}: downloading {len(todo)} file(s), {missing}")
    for item in todo:
        bar = tqdm_class_for(reporter, item.filename)
        kwargs = {**common, "revision": item.commit_hash}
        call(
            lambda item=item, bar=bar, kwargs=kwargs: hf.hf_hub_download(
                source.repo_id, item.filename, tqdm_class=bar, **kwargs
            )
        )
        reporter.file_done(item.filename)
    folder = call(lambda: hf.snapshot_download(source.repo_id, allow_patterns=patterns, **common))
    return Path(folder)


def check_disk_space(source: ModelSource, missing: int, cache_dir: Path | None = None) -> None:
    """Raise :class:`DiskSpaceError` when the cache's disk cannot hold ``missing`` more bytes."""
    if missing <= 0:
        return
    where = hub_cache_dir(cache_dir)
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < missing + DISK_MARGIN_BYTES:
        raise DiskSpaceError(
            f"not enough disk space for {source.label}: {human_bytes(missing)} still to download but only"
            f" {human_bytes(free)} free at {where}; free some space (`veille models remove NAME`) or move"
            " the cache with --cache-dir or HF_HUB_CACHE"
        )


def _not_cached(source: ModelSource) -> ModelNotCachedError:
    name = source.entry.name if source.entry else source.spec
    return ModelNotCachedError(
        f"{source.entry.title if source.entry else source.repo_id} is not in the cache and offline mode is on;"
        f" run `veille models download {name}` while online"
    )


def _with_retries(
    func: Callable[[], T], *, source: ModelSource, reporter: DownloadReporter, retries: int, backoff_s: float
) -> T:
    """Call ``func``; retry transient network failures with exponential backoff; map hub errors."""
    attempt = 0
    while True:
        try:
            return func()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # mapped below; anything unknown is re-raised
            if not _is_transient(exc):
                mapped = _map_error(exc, source)
                if mapped is exc:
                    raise
                raise mapped from exc
            if attempt >= retries:
                raise ModelDownloadError(
                    f"downloading {source.label} failed after {attempt + 1} tries ({_reason(exc)}); check the"
                    " network and run the command again: finished files are kept and partial ones resume"
                ) from exc
            delay = backoff_s * (2**attempt)
            attempt += 1
            reporter.message(f"{source.label}: {_reason(exc)}; retry {attempt}/{retries} in {delay:.1f} s")
            logger.info("retrying %s after %s", source.label, exc)
            time.sleep(delay)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, cut transfers and HTTP 5xx (also when wrapped by the hub)."""
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    for item in _chain(exc):
        if isinstance(item, OfflineModeIsEnabled):
            return False
        if isinstance(item, (httpx2.TransportError, TimeoutError, ConnectionError)):
            return True
        status = _status(item)
        if status is not None and status >= 500:
            return True
    return False


def _reason(exc: BaseException) -> str:
    for item in _chain(exc):
        status = _status(item)
        if status is not None:
            return f"HTTP {status}"
    root = _chain(exc)[-1]
    return f"{type(root).__name__}: {root}".strip().rstrip(":")[:200]


def _map_error(exc: Exception, source: ModelSource) -> Exception:
    """A one-line veille error for a non-transient hub failure (unknown ones pass through).

    The hub may wrap the cause (a dry run raises ``DryRunError`` from the real error): the chain is searched.
    """
    for item in _chain(exc):
        mapped = _map_one(item, source)
        if mapped is not None:
            return mapped
    return exc


def _map_one(exc: BaseException, source: ModelSource) -> Exception | None:
    from huggingface_hub import errors as e

    repo, rev = source.repo_id, source.revision
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, e.GatedRepoError):
        return ModelError(
            f"{repo} is gated: accept its terms on huggingface.co, then log in with `hf auth login` and retry"
        )
    if isinstance(exc, e.RepositoryNotFoundError):
        return ModelError(f"{repo} was not found on the Hugging Face Hub (or is private); check the repo id")
    if isinstance(exc, e.RevisionNotFoundError):
        return ModelError(f"revision '{rev}' does not exist in {repo}; use a branch, tag or commit that exists")
    if isinstance(exc, (e.OfflineModeIsEnabled, e.LocalEntryNotFoundError)) and constants.is_offline():
        return _not_cached(source)
    if isinstance(exc, e.HfHubHTTPError):
        return ModelDownloadError(f"the Hub refused {repo} ({_reason(exc)}); try again later")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return DiskSpaceError(f"the disk filled up while downloading {source.label}; free space or use --cache-dir")
    return None
