"""``veille models list`` / ``python main.py --list-models``: the catalog with cache state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from veille.models.cache import cache_infos, hub_cache_dir
from veille.models.catalog import CATALOG, MODEL_PEAK_MEMORY, PROFILES, profiles_using
from veille.models.int8_cache import int8_cache_dir, repo_int8_info


def model_rows(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """One dict per catalog model: name, role, repo, size, cache state, path, profiles."""
    rows = []
    infos = cache_infos([(e.repo_id, e.revision) for e in CATALOG.values()], cache_dir)
    for entry, info in zip(CATALOG.values(), infos, strict=True):
        rows.append(
            {
                "name": entry.name,
                "repo_id": entry.repo_id,
                "role": entry.role,
                "title": entry.title,
                "size_bytes": entry.size_bytes,
                "cached": info.state == "complete",
                "cache_state": info.state,
                "size_on_disk": info.size_on_disk,
                "path": str(info.snapshot) if info.snapshot else None,
                "profiles": profiles_using(entry.name),
                **_int8_fields(entry.repo_id, cache_dir),
                "peak_memory": MODEL_PEAK_MEMORY.get(entry.name, {}),
            }
        )
    return rows


def _int8_fields(repo_id: str, cache_dir: Path | None) -> dict[str, int]:
    """The int8 weights cached for the CPU (``int8_cached``: how many snapshots/versions, ``int8_size``: bytes)."""
    info = repo_int8_info(repo_id, cache_dir)
    return {"int8_cached": info.entries, "int8_size": info.size_on_disk}


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n else "-"


def print_models(*, as_json: bool = False, cache_dir: Path | None = None) -> None:
    """Print the catalog as a table (or JSON)."""
    rows = model_rows(cache_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    name_w = max([4, *(len(r["name"]) for r in rows)])
    repo_w = max([4, *(len(r["repo_id"]) for r in rows)])
    click.echo(
        f"{'NAME':<{name_w}} {'ROLE':<10} {'REPO':<{repo_w}} {'SIZE':>7} {'CACHED':<9} {'ON DISK':>8} {'INT8':>8}"
        "  PROFILES"
    )
    for r in rows:
        click.echo(
            f"{r['name']:<{name_w}} {r['role']:<10} {r['repo_id']:<{repo_w}} {_size(r['size_bytes']):>7} "
            f"{r['cache_state']:<9} {_size(r['size_on_disk']):>8} {_size(r['int8_size']):>8}"
            f"  {','.join(r['profiles']) or '-'}"
        )
    click.echo(f"cache: {hub_cache_dir(cache_dir)}")
    click.echo(f"int8 cache (CPU): {int8_cache_dir(cache_dir)}")
    click.echo(profile_memory_line())


def profile_memory_line() -> str:
    """Each profile's measured peak memory on the CPU (int8), and the memory available now."""
    import psutil

    from veille.models.requirements import gib, profile_peak

    peaks = [(p, profile_peak(p)) for p in PROFILES]
    text = ", ".join(f"{p} {gib(n) if n is not None else '-'}" for p, n in peaks)
    return f"peak memory per profile on the CPU (int8): {text}; available now: {gib(psutil.virtual_memory().available)}"
