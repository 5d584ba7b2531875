"""``veille models list`` / ``python main.py --list-models``: the catalog with cache state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from veille.models.cache import cache_infos, hub_cache_dir
from veille.models.catalog import CATALOG, profiles_using


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
            }
        )
    return rows


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
    click.echo(f"{'NAME':<{name_w}} {'ROLE':<10} {'REPO':<{repo_w}} {'SIZE':>7} {'CACHED':<9} {'ON DISK':>8}  PROFILES")
    for r in rows:
        click.echo(
            f"{r['name']:<{name_w}} {r['role']:<10} {r['repo_id']:<{repo_w}} {_size(r['size_bytes']):>7} "
            f"{r['cache_state']:<9} {_size(r['size_on_disk']):>8}  {','.join(r['profiles']) or '-'}"
        )
    click.echo(f"cache: {hub_cache_dir(cache_dir)}")
