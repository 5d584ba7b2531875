"""Environment variables, read once, here.

Offline flags must be in ``os.environ`` before huggingface_hub or transformers is imported:
they read them at import time. :func:`apply_offline` does that and is called by the CLI before
any model code is touched.
"""

from __future__ import annotations

import os
from typing import Final

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


ENV_PREFIX: Final = "VEILLE_"
DEBUG: Final[bool] = _flag("VEILLE_DEBUG")
VEILLE_ENV: Final[dict[str, str]] = {
    k[len(ENV_PREFIX) :].lower(): v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) and k != "VEILLE_DEBUG"
}
VIDEO_EXTENSIONS: Final = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".avi",
        ".webm",
        ".ts",
        ".mts",
        ".m2ts",
        ".flv",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".3gp",
        ".h264",
        ".h265",
        ".hevc",
        ".mjpeg",
        ".mjpg",
    }
)
DEFAULT_OUT_DIR: Final = "veille-reports"
CONFIG_FILE_NAME: Final = "veille.toml"


def apply_offline(offline: bool) -> None:
    """Put the Hugging Face offline flags in the environment (before hub imports)."""
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"


def is_offline() -> bool:
    """True when offline mode is on in the current environment."""
    return _flag("HF_HUB_OFFLINE") or _flag("TRANSFORMERS_OFFLINE")
