"""What memory an analysis needs, from measured peaks, and whether this machine has it now.

The peaks are the resident memory of a whole ``veille analyze`` on the CPU with int8 layers (the
default there), measured by ``benchmarks/load.py`` with full-size random-weight twins of the catalog
models and kept in the catalog: without any model (:data:`BASELINE_PEAK_MEMORY`) and with each
model alone (:data:`MODEL_PEAK_MEMORY`). A profile's peak follows from how long its models stay
loaded (:mod:`veille.models.session`): with the ``stage`` lifetime (the default) each model is freed
before the next one loads, so the analysis peaks at its largest model's peak; with ``video`` or
``batch`` they are all held together, so their memory adds up (an estimate from each model's
measured peak: a sum of peaks, never measured as a whole). A model without a measured peak (one
outside the default profiles, a folder, a server), and devices without measurements (CUDA, MPS,
``--no-8bit``), are not checked: no figure is guessed for them. Importing this module imports
neither torch nor psutil.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from veille.errors import NotEnoughMemoryError
from veille.models.catalog import BASELINE_PEAK_MEMORY, CPU_INT8, MODEL_PEAK_MEMORY, PROFILES, ROLES, lookup

if TYPE_CHECKING:
    from veille.settings import Settings

log = logging.getLogger(__name__)
GIB = 1 << 30
#: Profiles from the most to the least demanding, for the "use this one instead" hint.
BY_NEED = ("full", "default", "fast", "motion")
#: Model lifetimes (``model_lifetime``) that hold every model of a video at once.
HELD_TOGETHER = ("video", "batch")


def setup_of(settings: Settings) -> str | None:
    """The measured setup an analysis runs in (:data:`CPU_INT8`), or ``None`` when none was measured."""
    if settings.load_in_8bit is False or settings.dtype != "auto" or settings.device not in ("auto", "cpu"):
        return None
    if settings.device == "auto":
        from veille.backends.runtime import resolve_device

        if resolve_device("auto") != "cpu":
            return None
    return CPU_INT8


def overrides_of(settings: Settings) -> dict[str, str | None]:
    """The settings' ``--vlm/--llm/--grounder`` choices by role (``None``: the profile's)."""
    return {"describer": settings.vlm, "reasoner": settings.llm, "grounder": settings.grounder}


def role_specs(profile: str, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    """The model of each role of ``profile``, with ``overrides`` by role (``"none"``: no model)."""
    overrides = overrides or {}
    specs: dict[str, str] = {}
    for role in ROLES:
        spec = overrides.get(role)
        spec = spec if spec is not None else PROFILES[profile][role]
        if spec and str(spec).strip().lower() not in ("", "none"):
            specs[role] = str(spec)
    return specs


def model_peak(spec: str, setup: str = CPU_INT8) -> int | None:
    """The measured peak of an analysis with ``spec`` (a catalog name or repo) as its only model, or ``None``."""
    entry = lookup(spec)
    return MODEL_PEAK_MEMORY.get(entry.name, {}).get(setup) if entry is not None else None


def profile_peak(
    profile: str,
    setup: str = CPU_INT8,
    overrides: dict[str, str | None] | None = None,
    lifetime: str = "stage",
) -> int | None:
    """Peak memory of an analysis with ``profile`` (and ``overrides`` by role); ``None`` if not measured.

    ``lifetime`` is the ``model_lifetime``: ``stage`` peaks at the largest model's measured peak,
    ``video`` and ``batch`` at the baseline plus what each model adds to it.
    """
    base = BASELINE_PEAK_MEMORY.get(setup)
    peaks = [model_peak(spec, setup) for spec in role_specs(profile, overrides).values()]
    if base is None or None in peaks:
        return None
    adds = [max(0, peak - base) for peak in peaks if peak is not None]
    if lifetime in HELD_TOGETHER:
        return base + sum(adds)
    return base + max(adds, default=0)


def gib(n: int) -> str:
    """``n`` bytes in GiB, one decimal."""
    return f"{n / GIB:.1f} GiB"


def check_memory(settings: Settings, available: int | None = None) -> None:
    """Refuse an analysis whose peak memory (measured, see the module docstring) exceeds the memory available now.

    Raises:
        NotEnoughMemoryError: with the profile that would fit, and how to run anyway.
    """
    from veille.models.session import lifetime_for

    overrides = overrides_of(settings)
    if not settings.memory_check or not role_specs(settings.profile, overrides):
        return
    setup = setup_of(settings)
    lifetime = lifetime_for(settings).value
    need = profile_peak(settings.profile, setup, overrides, lifetime) if setup else None
    if setup is None or need is None:
        log.info("no measured peak memory for this analysis's models on this device; memory not checked")
        return
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    if need <= available:
        return
    fits = [p for p in BY_NEED if (peak := profile_peak(p, setup)) is not None and peak <= available]
    hint = ""
    if settings.profile in fits:  # what makes it too big is the models chosen or kept loaded
        hint = f"use its own models, one at a time (peaks at {gib(profile_peak(settings.profile, setup) or 0)})"
    elif fits:
        hint = f"use --profile {fits[0]} (peaks at {gib(profile_peak(fits[0], setup) or 0)})"
    how = " with its models loaded together" if lifetime in HELD_TOGETHER and len(role_specs_of(settings)) > 1 else ""
    raise NotEnoughMemoryError(
        f"profile '{settings.profile}' peaks at {gib(need)} of memory on the CPU{how} and {gib(available)} is "
        f"available: {hint + ', ' if hint else ''}free some memory, or pass --no-memory-check to run anyway"
    )


def role_specs_of(settings: Settings) -> dict[str, str]:
    """The model of each role of an analysis with ``settings``."""
    return role_specs(settings.profile, overrides_of(settings))
