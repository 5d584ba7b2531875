"""Lazy models: resolve (download on first use), load, log, release.

A model is only resolved and loaded when :meth:`ModelManager.get` is first called for its role.
When a model cannot be had, the manager warns and returns ``None`` (the pipeline falls back to
motion-only events), or raises with ``strict``. When a model is freed is not the manager's
decision: :class:`veille.models.session.ModelSession` owns the manager and decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast, overload

from veille.backends.runtime import RuntimeOptions, memory_bytes, release, resolve_device
from veille.errors import ModelError
from veille.models.availability import note_unavailable, resolve_model
from veille.models.catalog import PROFILES, ROLES, Role
from veille.models.int8_cache import int8_cache_dir
from veille.models.progress import DownloadReporter, ProgressReporter
from veille.progress import Progress

if TYPE_CHECKING:
    from veille.backends.base import Backend, Grounder, TextModel, VisionLanguageModel
    from veille.backends.info import ModelInfo
    from veille.settings import Settings

logger = logging.getLogger(__name__)
#: Builds the backend of a role: ``factory(role, path, options, model_id=..., revision=..., endpoint=...)``.
BackendFactory: TypeAlias = "Callable[..., Backend]"
ROLE_FLAGS = {"describer": "vlm", "reasoner": "llm", "grounder": "grounder"}


def _default_factory(role: str, path: Path | None, options: RuntimeOptions, **kwargs: Any) -> Backend:
    from veille.backends.factory import create_backend

    return create_backend(role, path, options, **kwargs)


class ModelManager:
    """Loads each model lazily and frees it when told (:meth:`release`, :meth:`close`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        progress: Progress,
        warnings: list[str],
        factory: BackendFactory | None = None,
        reporter: DownloadReporter | None = None,
    ) -> None:
        """Args:
        settings: profile, model overrides, runtime, cache, strictness.
        progress: receives warnings and download progress.
        warnings: list the manager appends its warnings to (they go into ``report.warnings``).
        factory: builds a backend from a local folder (default: ``veille.backends.factory.create_backend``).
        reporter: download progress receiver (default: forwarded to ``progress``).
        """
        self.settings = settings
        self.progress = progress
        self.warnings = warnings
        int8_cache = int8_cache_dir(settings.cache_dir, settings.int8_cache_dir)
        self.options = RuntimeOptions(settings.device, settings.dtype, settings.load_in_8bit, int8_cache)
        self._factory = factory or _default_factory
        self._reporter = reporter or ProgressReporter(progress)
        self._loaded: dict[str, Backend] = {}
        self._failed: set[str] = set()
        self._info: dict[str, ModelInfo | None] = {}
        self.download_s = 0.0  # time spent resolving and downloading models, retries and failures included

    def rebind(self, *, progress: Progress, warnings: list[str]) -> None:
        """Report to another analysis's progress and warnings (a manager shared across a batch).

        Roles that failed are tried again for the new analysis, so its report says why it went without
        them; a Hub that did not answer is not asked again in the run (:mod:`veille.models.record`).
        """
        self.progress = progress
        self.warnings = warnings
        self._reporter = ProgressReporter(progress)
        self._failed.clear()

    def spec(self, role: str) -> str | None:
        """The model named for ``role``: the ``--vlm/--llm/--grounder`` override, else the profile's."""
        if role not in ROLES:
            raise ModelError(f"unknown model role '{role}'; use one of {', '.join(ROLES)}")
        override = getattr(self.settings, ROLE_FLAGS[role])
        value = override if override is not None else PROFILES[self.settings.profile][cast(Role, role)]
        if value is None or str(value).strip().lower() in ("", "none"):
            return None
        return str(value)

    @overload
    def get(self, role: Literal["describer"]) -> VisionLanguageModel | None: ...
    @overload
    def get(self, role: Literal["reasoner"]) -> TextModel | None: ...
    @overload
    def get(self, role: Literal["grounder"]) -> Grounder | None: ...
    @overload
    def get(self, role: str) -> Backend | None: ...

    def get(self, role: str) -> Backend | None:
        """The backend for ``role``, loading it on first use; ``None`` when none is configured or it failed."""
        if role in self._loaded:
            return self._loaded[role]
        spec = self.spec(role)
        if spec is None or role in self._failed:
            return None
        try:
            backend = self._load(role, spec)
        except ModelError as exc:
            self._failed.add(role)
            if self.settings.strict:
                raise
            note_unavailable(role, spec, exc)
            message = f"{role} '{spec}' is unavailable ({exc}); continuing without it"
            self.progress.warn(message)
            self.warnings.append(message)
            return None
        self._loaded[role] = backend
        return backend

    def _load(self, role: str, spec: str) -> Backend:
        fetching = time.perf_counter()
        try:
            resolved = resolve_model(role, spec, self.settings, reporter=self._reporter)
        finally:
            self.download_s += time.perf_counter() - fetching
        device = resolve_device(self.options.device)
        before, started = memory_bytes(device), time.perf_counter()
        try:
            backend = self._factory(role, resolved.path, self.options, **resolved.factory_kwargs())
        except ModelError:
            raise
        except (OSError, ValueError, RuntimeError, ImportError, KeyError) as exc:
            raise ModelError(f"cannot load {resolved.model_id}: {type(exc).__name__}: {exc}") from exc
        info = backend.info
        self._info[role] = info
        logger.info(
            "loaded %s %s on %s (%s, %s) in %.1f s, memory +%.0f MB",
            role,
            resolved.model_id,
            info.device,
            info.dtype,
            info.quantization or "no quantization",
            time.perf_counter() - started,
            (memory_bytes(device) - before) / 1e6,
        )
        return backend

    def release(self, role: str) -> None:
        """Free the model of ``role`` (if loaded): ``close()`` it, drop references, collect memory."""
        backend = self._loaded.pop(role, None)
        if backend is None:
            return
        device = backend.info.device
        before, started = memory_bytes(device), time.perf_counter()
        backend.close()
        del backend
        release()
        logger.info(
            "released %s in %.1f s, memory -%.0f MB",
            role,
            time.perf_counter() - started,
            (before - memory_bytes(device)) / 1e6,
        )

    def close(self) -> None:
        """Release every loaded model."""
        for role in list(self._loaded):
            self.release(role)

    def loaded(self) -> list[str]:
        """The roles whose models are in memory now."""
        return list(self._loaded)

    def info(self) -> dict[str, ModelInfo | None]:
        """``report.models``: how each role's model ran (``None`` for roles that had none)."""
        return {role: self._info.get(role) for role in ROLES}
