"""What memory an analysis needs, from measured peaks, and whether this machine has it now.

The peaks are the resident memory of a whole ``veille analyze`` on the CPU with int8 layers (the
default there), measured with full-size random-weight twins of the catalog models by
``benchmarks/load.py`` and kept in the catalog: per model alone, and per profile. A profile with
other models (``--vlm/--llm/--grounder``) is estimated from the models' own peaks: each model is
freed before the next one loads (unless ``keep_models_loaded``, which holds them all), so the peak
is that of the largest. Devices without measurements (CUDA, MPS, ``--no-8bit``) are not checked.
Importing this module imports neither torch nor psutil.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from veille.errors import NotEnoughMemoryError
from veille.models.catalog import (
    BASELINE_PEAK_MEMORY,
    CPU_INT8,
    MODEL_PEAK_MEMORY,
    PROFILE_PEAK_MEMORY,
    PROFILES,
    ROLES,
    lookup,
)

if TYPE_CHECKING:
    from veille.settings import Settings

log = logging.getLogger(__name__)
GIB = 1 << 30
#: Profiles from the most to the least demanding, for the "use this one instead" hint.
BY_NEED = ("full", "default", "fast", "motion")


def setup_of(settings: Settings) -> str | None:
    """The measured setup an analysis runs in (:data:`CPU_INT8`), or ``None`` when none was measured."""
    if settings.load_in_8bit is False or settings.dtype != "auto" or settings.device not in ("auto", "cpu"):
        return None
    if settings.device == "auto":
        from veille.models.runtime import resolve_device

        if resolve_device("auto") != "cpu":
            return None
    return CPU_INT8


def overrides_of(settings: Settings) -> dict[str, str | None]:
    """The settings' ``--vlm/--llm/--grounder`` choices by role (``None``: the profile's)."""
    return {"describer": settings.vlm, "reasoner": settings.llm, "grounder": settings.grounder}


def role_specs(profile: str, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    """The model of each role of ``profile``, with ``overrides`` by role (``"none"``: no model)."""
    overrides = overrides or {}
    specs = {}
    for role in ROLES:
        spec = overrides.get(role)
        spec = spec if spec is not None else PROFILES[profile][role]
        if spec and str(spec).strip().lower() not in ("", "none"):
            specs[role] = str(spec)
    return specs


def profile_peak(
    profile: str,
    setup: str = CPU_INT8,
    overrides: dict[str, str | None] | None = None,
    keep_models_loaded: bool = False,
) -> int | None:
    """Peak memory of an analysis with ``profile`` (and ``overrides`` by role); ``None`` if unknown."""
    specs = role_specs(profile, overrides)
    defaults = {r: s for r, s in PROFILES[profile].items() if s}
    if specs == defaults and not keep_models_loaded and setup in PROFILE_PEAK_MEMORY.get(profile, {}):
        return PROFILE_PEAK_MEMORY[profile][setup]
    base = BASELINE_PEAK_MEMORY.get(setup)
    adds = {}
    for role, spec in specs.items():
        entry = lookup(spec)
        peak = MODEL_PEAK_MEMORY.get(entry.name, {}).get(setup) if entry is not None else None
        if peak is None or base is None:
            return None
        adds[role] = max(0, peak - base)
    if base is None:
        return None
    if keep_models_loaded:
        return base + sum(adds.values())
    return base + max(adds.values(), default=0)


def gib(n: int) -> str:
    """``n`` bytes in GiB, one decimal."""
    return f"{n / GIB:.1f} GiB"


def check_memory(settings: Settings, available: int | None = None) -> None:
    """Refuse an analysis whose measured peak memory exceeds the memory available now.

    Raises:
        NotEnoughMemoryError: with the profile that would fit, and how to run anyway.
    """
    overrides = overrides_of(settings)
    if not settings.memory_check or not role_specs(settings.profile, overrides):
        return
    setup = setup_of(settings)
    need = profile_peak(settings.profile, setup, overrides, settings.keep_models_loaded) if setup else None
    if need is None:
        log.debug("no measured peak memory for this analysis; not checked")
        return
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    if need <= available:
        return
    fits = [p for p in BY_NEED if (peak := profile_peak(p, setup)) is not None and peak <= available]
    hint = ""
    if settings.profile in fits:  # what makes it too big is the models chosen or kept loaded
        peak = gib(profile_peak(settings.profile, setup) or 0)
        hint = f"use its own models, one at a time (peaks at {peak})"
    elif fits:
        hint = f"use --profile {fits[0]} (peaks at {gib(profile_peak(fits[0], setup) or 0)})"
    raise NotEnoughMemoryError(
        f"profile '{settings.profile}' peaks at {gib(need)} of memory on the CPU and {gib(available)} is available: "
        f"{hint + ', ' if hint else ''}free some memory, or pass --no-memory-check to run anyway"
    )
