"""Whether the models a run needs can be had, and what the user is told when they cannot.

:func:`resolve_model` is the model manager's resolution step for every spec: ``openai:MODEL`` goes
to its server (asked once per run whether it is there), anything else to
:func:`veille.models.hub.ensure_model`. When a model of the profile cannot be had (offline and not
cached, or its download failed), the error names every model of the profile still missing and the
one command that fetches them all. The CLI says before the first video what is about to be
downloaded (:func:`download_notice`) and closes the run with the models it went without
(:func:`fallback_line`).
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from veille import constants
from veille.errors import ModelDownloadError, ModelError, ModelNotCachedError
from veille.models import hub
from veille.models.cache import cached_snapshot, hub_cache_dir
from veille.models.commands import profile_models
from veille.models.hub import ModelSource, ResolvedModel, source_for
from veille.models.hub_errors import NotRetried, failure_reason
from veille.models.progress import DownloadReporter, human_bytes
from veille.models.record import RUN
from veille.settings import REMOTE_PREFIX

if TYPE_CHECKING:
    from veille.settings import Settings

NO_MODEL_WAY = "--profile motion needs no model"


def resolve_model(
    role: str, spec: str, settings: Settings, *, reporter: DownloadReporter | None = None
) -> ResolvedModel:
    """Where the model ``spec`` of ``role`` is: a local folder (downloaded if need be) or a server.

    Raises:
        ModelError: it cannot be had; for a model that is not cached, the message names every model
            of the profile still missing and the command that fetches them.
    """
    if spec.startswith(REMOTE_PREFIX):
        return _remote(role, spec, settings)
    try:
        return hub.ensure_model(spec, cache_dir=settings.cache_dir, reporter=reporter)
    except (ModelNotCachedError, ModelDownloadError) as exc:
        raise type(exc)(_not_had(spec, exc, settings)) from exc


def _remote(role: str, spec: str, settings: Settings) -> ResolvedModel:
    from veille.backends.openai_compat import RemoteEndpoint, api_key_from, check_server

    if role not in ("describer", "reasoner"):
        raise ModelError(f"the {role} cannot be an OpenAI-compatible model ({spec}); use a local model or none")
    base = (settings.llm_api_base or settings.api_base) if role == "reasoner" else settings.api_base
    if not base:
        raise ModelError(f"{spec} needs the server's address: give --api-base URL (e.g. http://127.0.0.1:11434/v1)")
    endpoint = RemoteEndpoint(base, spec[len(REMOTE_PREFIX) :].strip(), api_key_from(os.environ))
    earlier = RUN.endpoint_down(base)
    if earlier is not None:
        raise ModelError(f"{earlier} (not asked again in this run)")
    try:
        check_server(endpoint)
    except ModelError as exc:
        RUN.note_down(base, exc)
        raise
    return ResolvedModel(None, endpoint.model, None, endpoint=endpoint)


def _not_had(spec: str, error: ModelError, settings: Settings) -> str:
    source = source_for(spec)
    at = f" at revision {source.revision}" if source.pinned else ""
    if isinstance(error, ModelNotCachedError):
        return f"{source.label}{at} is not in the cache and offline mode is on; {_advice(settings, 'while online')}"
    why = failure_reason(error) + ("; not asked again in this run" if isinstance(error, NotRetried) else "")
    return f"{source.label}{at} could not be downloaded ({why}); {_advice(settings, 'when online')}"


def _advice(settings: Settings, when: str) -> str:
    missing = missing_models(settings)
    if not missing:
        return NO_MODEL_WAY
    them = "it" if len(missing) == 1 else "them all"
    return (
        f"profile '{settings.profile}' still needs {_names(missing)}: `{fetch_command(settings, missing)}`"
        f" fetches {them} {when}; {NO_MODEL_WAY}"
    )


def missing_models(settings: Settings) -> list[ModelSource]:
    """The Hub models of the run's profile (with its ``--vlm/--llm/--grounder``) not complete in the cache."""
    missing = []
    for spec in profile_models(settings.profile, _overrides(settings)):
        try:
            source = source_for(spec)
        except ModelError:
            continue  # an unknown name: the manager says so when it gets there
        if source.repo_id is None:
            continue
        state, _ = cached_snapshot(source.repo_id, source.revision, settings.cache_dir, source.allow_patterns)
        if state != "complete":
            missing.append(source)
    return missing


def _overrides(settings: Settings) -> dict[str, str | None]:
    return {"describer": settings.vlm, "reasoner": settings.llm, "grounder": settings.grounder}


def fetch_command(settings: Settings, missing: list[ModelSource]) -> str:
    """``veille models download --profile P`` when the run uses the profile's own models, else the names."""
    if any(_overrides(settings).values()):
        what = " ".join(shlex.quote(f"{s.label}@{s.revision}" if s.pinned else s.label) for s in missing)
    else:
        what = f"--profile {settings.profile}"
    where = f" --cache-dir {shlex.quote(str(settings.cache_dir))}" if settings.cache_dir else ""
    return f"veille models download {what}{where}"


def _size(sources: list[ModelSource]) -> str:
    known = sum(s.entry.size_bytes for s in sources if s.entry is not None)
    unknown = sum(s.entry is None for s in sources)
    amount = human_bytes(known) if known else ""
    if unknown:
        models = "1 model" if unknown == 1 else f"{unknown} models"
        amount = f"{amount} and {models} of unknown size" if known else "an unknown size"
    return amount


def _names(sources: list[ModelSource]) -> str:
    return ", ".join(f"{s.label} ({human_bytes(s.entry.size_bytes)})" if s.entry else s.label for s in sources)


def download_notice(settings: Settings) -> str | None:
    """What is about to be downloaded, how much and where to; ``None`` when nothing is (or offline)."""
    if settings.profile == "motion" or constants.is_offline():
        return None
    missing = missing_models(settings)
    if not missing:
        return None
    return (
        f"not in the cache: {_names(missing)}; about to download {_size(missing)} to"
        f" {hub_cache_dir(settings.cache_dir)} as the models are first needed"
        f" (`{fetch_command(settings, missing)}` fetches them ahead; {NO_MODEL_WAY})"
    )


def note_unavailable(role: str, spec: str, error: ModelError) -> None:
    """Record that ``role`` goes without ``spec`` in this run (for :func:`fallback_line`)."""
    if spec.startswith(REMOTE_PREFIX):
        reason = "server not reachable"
    elif isinstance(error, ModelNotCachedError):
        reason = "not in the cache, offline"
    elif isinstance(error, ModelDownloadError):
        reason = "download failed"
    else:
        reason = "could not be loaded"
    RUN.note_unavailable(role, spec, reason)


EFFECTS = {
    "describer": "events are motion-only",
    "reasoner": "events were not judged",
    "grounder": "events have no boxes",
}


def fallback_line(settings: Settings) -> str | None:
    """The run's closing line when some analysis went without a model it asked for (``None`` otherwise)."""
    went = list(RUN.unavailable.values())
    if not went:
        return None
    roles = [role for role in EFFECTS if any(u.role == role for u in went)]
    without = ", ".join(f"the {u.role} {u.spec} ({u.reason})" for u in went)
    hints = []
    missing = missing_models(settings)
    if missing:
        hints.append(f"`{fetch_command(settings, missing)}` fetches the missing models")
    if any(u.spec.startswith(REMOTE_PREFIX) for u in went):
        hints.append("start the OpenAI-compatible server or check --api-base")
    hints.append(NO_MODEL_WAY)
    return f"analysed without {without}: {EFFECTS[roles[0]]}; {'; '.join(hints)}"
