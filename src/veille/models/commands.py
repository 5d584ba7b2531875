"""``veille models download`` and ``veille models remove``: library side (the CLI only prints)."""

from __future__ import annotations

from pathlib import Path

from veille.errors import ModelError
from veille.models.cache import cache_info, remove_repo
from veille.models.catalog import PROFILES, ROLES
from veille.models.int8_cache import remove_repo_int8
from veille.models.progress import DownloadReporter, human_bytes


def profile_models(profile: str, overrides: dict[str, str | None] | None = None) -> list[str]:
    """The model specs a profile uses, with ``--vlm/--llm/--grounder`` style overrides by role.

    Models on an OpenAI-compatible server (``openai:MODEL``) are left out: there is nothing to fetch.
    """
    from veille.settings import REMOTE_PREFIX

    overrides = overrides or {}
    specs = []
    for role in ROLES:
        spec = overrides.get(role) or PROFILES[profile][role]
        if spec and spec.lower() != "none" and not spec.startswith(REMOTE_PREFIX):
            specs.append(spec)
    return specs


def download_models(
    specs: list[str],
    *,
    cache_dir: Path | None,
    reporter: DownloadReporter,
    revision: str | None = None,
) -> list[str]:
    """Download every spec (catalog name, repo id); return one summary line per model.

    Raises:
        ModelError: the first model that cannot be had (the ones before it stay cached).
    """
    from veille.models.hub import download, source_for

    if revision is not None and len(specs) != 1:
        raise ModelError("--revision applies to one model at a time; name exactly one model")
    lines = []
    for spec in specs:
        source = source_for(spec, revision=revision)
        if source.local_dir is not None:
            lines.append(f"{spec}: local folder, nothing to download")
            continue
        path = download(source, cache_dir=cache_dir, reporter=reporter)
        assert source.repo_id is not None
        size = cache_info(source.repo_id, cache_dir, source.revision).size_on_disk
        lines.append(f"{source.label}: ready ({human_bytes(size)} in the cache) at {path}")
    return lines


def remove_model(spec: str, *, cache_dir: Path | None) -> str:
    """Delete a cached model (catalog name or repo id); return a line saying how much was freed."""
    from veille.models.catalog import lookup

    entry = lookup(spec)
    repo_id = entry.repo_id if entry else spec
    if "/" not in repo_id:
        raise ModelError(f"unknown model '{spec}': give a catalog name (see `veille models list`) or a repo id")
    freed = remove_repo(repo_id, cache_dir)
    int8_freed = remove_repo_int8(repo_id, cache_dir)
    if not freed and not int8_freed:
        return f"{spec}: not in the cache, nothing removed"
    int8_note = f" (int8 weights: {human_bytes(int8_freed)})" if int8_freed else ""
    return f"{spec}: removed {repo_id}, freed {human_bytes(freed + int8_freed)}{int8_note}"
