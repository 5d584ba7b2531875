"""How a Hugging Face Hub failure reads to veille: transient or not, a few words of reason, one clear error.

The hub may wrap the cause (a dry run raises ``DryRunError`` from the real error): chains are searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veille import constants
from veille.errors import DiskSpaceError, ModelDownloadError, ModelError, ModelNotCachedError

if TYPE_CHECKING:
    from veille.models.hub import ModelSource


class NotRetried(ModelDownloadError):
    """A download not even tried: this run already found its Hub unreachable."""


def not_cached(source: ModelSource) -> ModelNotCachedError:
    """The error for a model that is not in the cache while offline (naming a pinned revision)."""
    title = source.entry.title if source.entry else source.repo_id
    at = f" at revision {source.revision}" if source.pinned else ""
    return ModelNotCachedError(
        f"{title}{at} is not in the cache and offline mode is on; run `{source.download_command}` while online"
    )


def failure_reason(error: BaseException) -> str:
    """A few words on why a download failed: ``HTTP 503``, ``ConnectError: …``, or the error's own text."""
    cause = error.__cause__
    return reason(cause) if cause is not None else str(error)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or during, outermost first."""
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the response an error carries, if any."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, cut transfers and HTTP 5xx (also when wrapped by the hub)."""
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    for item in chain(exc):
        if isinstance(item, OfflineModeIsEnabled):
            return False
        if isinstance(item, (httpx2.TransportError, TimeoutError, ConnectionError)):
            return True
        code = http_status(item)
        if code is not None and code >= 500:
            return True
    return False


def reason(exc: BaseException) -> str:
    """A few words on a failure: ``HTTP 503``, else the innermost error (``ConnectError: …``)."""
    for item in chain(exc):
        code = http_status(item)
        if code is not None:
            return f"HTTP {code}"
    root = chain(exc)[-1]
    return f"{type(root).__name__}: {root}".strip().rstrip(":")[:200]


def map_error(exc: Exception, source: ModelSource) -> Exception:
    """A one-line veille error for a non-transient hub failure (unknown ones pass through)."""
    for item in chain(exc):
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
        return not_cached(source)
    if isinstance(exc, e.HfHubHTTPError):
        return ModelDownloadError(f"the Hub refused {repo} ({reason(exc)}); try again later")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return DiskSpaceError(f"the disk filled up while downloading {source.label}; free space or use --cache-dir")
    return None
