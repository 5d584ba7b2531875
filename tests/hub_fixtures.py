"""Tiny checkpoints served under the catalog's repo ids, and a Hugging Face cache pre-filled with them.

For end-to-end tests: ``catalog_repos(tiny_models, root)`` lays out one folder per catalog repo
(each with a decoy ``pytorch_model.bin`` that must never be fetched); ``FakeHub(catalog_repos(...))``
serves them; ``fill_cache(hub, hf_home, names)`` downloads them with veille itself (in a subprocess)
so that ``HF_HUB_OFFLINE=1 veille analyze clip.mp4 --profile full`` can run against ``hf_home``.
See the ``catalog_hub`` and ``offline_models`` fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.fake_hub import FakeHub, run_client
from veille.models.catalog import CATALOG

# catalog name -> key of the ``tiny_models`` fixture with the same architecture
TINY_FOR = {
    "smolvlm": "idefics3",
    "smolvlm-500m": "idefics3",
    "smolvlm-256m": "idefics3",
    "phi-2": "phi",
    "phi-3-mini": "phi3",
    "kosmos-2": "kosmos2",
}
DECOY = "pytorch_model.bin"


def catalog_repos(tiny_models: dict[str, Path], root: Path, names: list[str] | None = None) -> dict[str, Path]:
    """One folder per catalog repo id (a copy of the matching tiny checkpoint plus a decoy ``.bin``)."""
    repos = {}
    for name in names or list(TINY_FOR):
        folder = Path(root) / name
        if not folder.exists():
            shutil.copytree(tiny_models[TINY_FOR[name]], folder)
            (folder / DECOY).write_bytes(os.urandom(64 * 1024))
        repos[CATALOG[name].repo_id] = folder
    return repos


def fill_cache(hub: FakeHub, hf_home: Path, names: list[str]) -> Path:
    """Download ``names`` from ``hub`` into ``hf_home/hub`` with veille (subprocess); return the cache dir."""
    code = (
        f"from veille.models.commands import download_models\nfrom veille.models.progress import NullReporter\n"
        f"emit(download_models({names!r}, cache_dir=None, reporter=NullReporter()))"
    )
    result = run_client(code, hub.client_env(hf_home), timeout=120)
    if not result.ok:
        raise RuntimeError(f"filling the test cache failed: {result.error} {result.stderr[-2000:]}")
    return Path(hf_home) / "hub"


def offline_env(hf_home: Path, **extra: str) -> dict[str, str]:
    """Environment for a ``veille`` subprocess using ``hf_home`` with no network at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "VEILLE_"))}
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_CACHE=str(Path(hf_home) / "hub"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_ENDPOINT="http://127.0.0.1:9",  # never reached; a leak would fail fast instead of going out
    )
    env.update(extra)
    return env
