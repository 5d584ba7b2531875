"""Lazy models for one analysis: resolve (download on first use), load, log, release.

A model is only resolved and loaded when :meth:`ModelManager.get` is first called for its role.
When a model cannot be had, the manager warns and returns ``None`` (the pipeline falls back to
motion-only events), or raises with ``strict``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.errors import ModelError
from veille.models.catalog import PROFILES, ROLES, lookup
from veille.models.int8_cache import int8_cache_dir
from veille.models.progress import DownloadReporter, ProgressReporter
from veille.models.runtime import RuntimeOptions, memory_bytes, release, resolve_device
from veille.progress import Progress

if TYPE_CHECKING:
    from veille.report.schema import ModelInfo
    from veille.settings import Settings

logger = logging.getLogger(__name__)
BackendFactory = Callable[..., Any]
ROLE_FLAGS = {"describer": "vlm", "reasoner": "llm", "grounder": "grounder"}
VISION_ROLES = ("describer", "grounder")


def _default_factory(role: str, path: Path, options: RuntimeOptions, **kwargs: Any) -> Any:
    from veille.backends.factory import create_backend

    return create_backend(role, path, options, **kwargs)


class ModelManager:
    """Owns the models of an analysis; loads each lazily and frees them on :meth:`close`."""

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
        self._loaded: dict[str, Any] = {}
        self._failed: set[str] = set()
        self._info: dict[str, ModelInfo | None] = {}

    def rebind(self, *, progress: Progress, warnings: list[str]) -> None:
        """Report to another analysis's progress and warnings (a manager shared across a batch)."""
        self.progress = progress
        self.warnings = warnings
        self._reporter = ProgressReporter(progress)

    def spec(self, role: str) -> str | None:
        """The model named for ``role``: the ``--vlm/--llm/--grounder`` override, else the profile's."""
        if role not in ROLES:
            raise ModelError(f"unknown model role '{role}'; use one of {', '.join(ROLES)}")
        override = getattr(self.settings, ROLE_FLAGS[role])
        value = override if override is not None else PROFILES[self.settings.profile][role]
        if value is None or str(value).strip().lower() in ("", "none"):
            return None
        return str(value)

    def get(self, role: str) -> Any | None:
        """The backend for ``role``, loading it on first use; ``None`` when none is configured or it failed."""
        if role in self._loaded:
            return self._loaded[role]
        spec = self.spec(role)
        if spec is None or role in self._failed:
            return None
        if role == "reasoner" and not self.settings.keep_models_loaded:
            for other in VISION_ROLES:
                self.release(other)
        try:
            backend = self._load(role, spec)
        except ModelError as exc:
            self._failed.add(role)
            if self.settings.strict:
                raise
            message = f"{role} '{spec}' is unavailable ({exc}); continuing without it"
            self.progress.warn(message)
            self.warnings.append(message)
            return None
        self._loaded[role] = backend
        return backend

    def _load(self, role: str, spec: str) -> Any:
        from veille.models.hub import ensure_model

        resolved = ensure_model(
            spec,
            cache_dir=self.settings.cache_dir,
            reporter=self._reporter,
        )
        device = resolve_device(self.options.device)
        before, started = memory_bytes(device), time.perf_counter()
        try:
            backend = self._factory(
                role, resolved.path, self.options, model_id=resolved.model_id, revision=resolved.revision
            )
        except ModelError:
            raise
        except (OSError, ValueError, RuntimeError, ImportError, KeyError) as exc:
            raise ModelError(f"cannot load {resolved.model_id}: {type(exc).__name__}: {exc}") from exc
        info = getattr(backend, "info", None)
        self._info[role] = info
        logger.info(
            "loaded %s %s on %s (%s, %s) in %.1f s, memory +%.0f MB",
            role,
            resolved.model_id,
            getattr(info, "device", device),
            getattr(info, "dtype", "?"),
            getattr(info, "quantization", None) or "no quantization",
            time.perf_counter() - started,
            (memory_bytes(device) - before) / 1e6,
        )
        return backend

    def release(self, role: str) -> None:
        """Free the model of ``role`` (if loaded): ``close()`` it, drop references, collect memory."""
        backend = self._loaded.pop(role, None)
        if backend is None:
            return
        device = getattr(getattr(backend, "info", None), "device", "cpu")
        before, started = memory_bytes(device), time.perf_counter()
        close = getattr(backend, "close", None)
        if callable(close):
            close()
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

    def catalog_title(self, role: str) -> str | None:
        """A human title for the role's model, when the catalog knows it."""
        spec = self.spec(role)
        entry = lookup(spec) if spec else None
        return entry.title if entry else spec

    def __enter__(self) -> ModelManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
