"""Model name → local folder: cache first, then huggingface_hub downloads with checks and retries.

Safetensors only (the catalog's ``allow_patterns``), free disk space checked before the first
byte, bounded exponential-backoff retries on connection errors, timeouts and HTTP 5xx (partial
files resume through huggingface_hub), and one clear :class:`~veille.errors.ModelError` per
failure. Offline mode must be set before huggingface_hub is imported
(:func:`veille.constants.apply_offline`).

A cached snapshot is used with no network at all; which one a revision names is huggingface_hub's
answer (:func:`veille.models.cache.cached_snapshot`). Failures are kept in the run's record
(:mod:`veille.models.record`): a Hub that did not answer is not asked again in the same run.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from veille import constants
from veille.errors import DiskSpaceError, ModelDownloadError, ModelError
from veille.models.cache import cached_snapshot, hub_cache_dir
from veille.models.catalog import SAFE_PATTERNS, CatalogEntry, lookup
from veille.models.hub_errors import NotRetried, is_transient, map_error, not_cached, reason
from veille.models.progress import DownloadReporter, NullReporter, human_bytes, tqdm_class_for
from veille.models.record import RUN

if TYPE_CHECKING:
    from huggingface_hub import DryRunFileInfo

    from veille.backends.openai_compat import RemoteEndpoint

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

    @property
    def pinned(self) -> bool:
        """True when a revision other than the default one was asked for (``NAME@REV``, ``--revision``)."""
        return self.repo_id is not None and self.revision != (self.entry.revision if self.entry else "main")

    @property
    def download_command(self) -> str:
        """The command that fetches this model (at its pinned revision, if any)."""
        pin = f" --revision {self.revision}" if self.pinned else ""
        return f"veille models download {self.label}{pin}"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model on local disk, or (``endpoint``, no ``path``) on an OpenAI-compatible server."""

    path: Path | None
    model_id: str
    revision: str | None
    endpoint: RemoteEndpoint | None = None

    def factory_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the backend factory (``model_id``, ``revision``, ``endpoint``)."""
        kwargs: dict[str, Any] = {"model_id": self.model_id, "revision": self.revision}
        if self.endpoint is not None:
            kwargs["endpoint"] = self.endpoint
        return kwargs


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
    retries: int | None = None,
    backoff_s: float | None = None,
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
    state, snapshot = cached_snapshot(source.repo_id, source.revision, cache_dir, source.allow_patterns)
    if state == "complete" and snapshot is not None:
        return ResolvedModel(snapshot, source.repo_id, snapshot.name)
    if constants.is_offline():
        raise not_cached(source)
    path = download(source, cache_dir=cache_dir, reporter=reporter, retries=retries, backoff_s=backoff_s)
    return ResolvedModel(path, source.repo_id, path.name)


def download(
    source: ModelSource,
    *,
    cache_dir: Path | None = None,
    reporter: DownloadReporter | None = None,
    retries: int | None = None,
    backoff_s: float | None = None,
) -> Path:
    """Fetch the allowed files of ``source`` into the cache (resuming partial files); return the snapshot.

    Raises at once, with no request, when this run already found the Hub unreachable or the repo missing.
    """
    if source.repo_id is None:
        assert source.local_dir is not None
        return source.local_dir
    if constants.is_offline():
        state, snapshot = cached_snapshot(source.repo_id, source.revision, cache_dir, source.allow_patterns)
        if state == "complete" and snapshot is not None:
            return snapshot
        raise not_cached(source)
    from huggingface_hub import constants as hub_constants

    endpoint = hub_constants.ENDPOINT
    earlier = _recorded_failure(source, endpoint)
    if earlier is not None:
        raise earlier
    reporter = reporter or NullReporter()
    retries = DEFAULT_RETRIES if retries is None else retries  # read now: a test may shorten them
    backoff_s = DEFAULT_BACKOFF_S if backoff_s is None else backoff_s
    try:
        return _fetch(source, cache_dir=cache_dir, reporter=reporter, retries=retries, backoff_s=backoff_s)
    except ModelDownloadError as exc:
        if exc.__cause__ is not None and is_transient(exc.__cause__):
            RUN.note_down(endpoint, exc.__cause__)
        raise
    except DiskSpaceError:
        raise
    except ModelError as exc:
        RUN.note_repo_failure(endpoint, source.repo_id, source.revision, exc)
        raise


def _fetch(
    source: ModelSource, *, cache_dir: Path | None, reporter: DownloadReporter, retries: int, backoff_s: float
) -> Path:
    import huggingface_hub as hf

    assert source.repo_id is not None
    repo_id = source.repo_id
    common: dict[str, Any] = {"revision": source.revision, "cache_dir": str(hub_cache_dir(cache_dir))}
    patterns = list(source.allow_patterns)

    def call(func: Callable[[], T]) -> T:
        return _with_retries(func, source=source, reporter=reporter, retries=retries, backoff_s=backoff_s)

    def dry_run() -> list[DryRunFileInfo]:
        plan: list[DryRunFileInfo] = hf.snapshot_download(repo_id, allow_patterns=patterns, dry_run=True, **common)
        return plan

    def fetch(item: DryRunFileInfo, bar: type) -> str:
        kwargs = {**common, "revision": item.commit_hash}
        path: str = hf.hf_hub_download(repo_id, item.filename, tqdm_class=bar, **kwargs)
        return path

    plan = call(dry_run)
    todo = [f for f in plan if f.will_download]
    if not any(f.filename.endswith(".safetensors") for f in plan):
        raise ModelError(f"{source.repo_id} has no safetensors weights; veille loads safetensors only")
    check_disk_space(source, sum(f.file_size or 0 for f in todo), cache_dir)
    if todo:
        missing = human_bytes(sum(f.file_size or 0 for f in todo))
        reporter.message(f"{source.label}: downloading {len(todo)} file(s), {missing}")
    for item in todo:
        bar = tqdm_class_for(reporter, item.filename)
        call(functools.partial(fetch, item, bar))
        reporter.file_done(item.filename)
    folder = call(lambda: hf.snapshot_download(repo_id, allow_patterns=patterns, **common))
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


def _recorded_failure(source: ModelSource, endpoint: str) -> ModelError | None:
    """The failure this run already met for ``source`` (its Hub unreachable, the repo missing), as a new error."""
    cause = RUN.endpoint_down(endpoint)
    if cause is not None:
        error: ModelError = NotRetried(
            f"{source.label} was not downloaded: the Hub ({endpoint}) did not answer earlier in this run"
            f" ({reason(cause)}); check the network and run the command again"
        )
        error.__cause__ = cause
        return error
    assert source.repo_id is not None
    earlier = RUN.repo_failure(endpoint, source.repo_id, source.revision)
    if earlier is None:
        return None
    error = type(earlier)(str(earlier))
    error.__cause__ = earlier.__cause__
    return error


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
            if not is_transient(exc):
                mapped = map_error(exc, source)
                if mapped is exc:
                    raise
                raise mapped from exc
            if attempt >= retries:
                raise ModelDownloadError(
                    f"downloading {source.label} failed after {attempt + 1} tries ({reason(exc)}); check the"
                    " network and run the command again: finished files are kept and partial ones resume"
                ) from exc
            delay = backoff_s * (2**attempt)
            attempt += 1
            reporter.warn(f"{source.label}: {reason(exc)}; retry {attempt}/{retries} in {delay:.1f} s")
            logger.debug("retrying %s after %r", source.label, exc)
            time.sleep(delay)
