"""veille: a local, private AI analyst for recorded surveillance video.

The public API is imported lazily so that ``import veille`` stays light (no torch, no
transformers, no PyAV until they are needed)::

    from veille import analyze, load_settings
    result = analyze("cam1.mp4", load_settings(flags={"profile": "motion"}))
    print(result.folder / "report.json")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from veille.pipeline import AnalysisResult, analyze
    from veille.report.schema import Report
    from veille.settings import Settings, load_settings

_LAZY = {
    "analyze": "veille.pipeline",
    "AnalysisResult": "veille.pipeline",
    "Settings": "veille.settings",
    "load_settings": "veille.settings",
    "Report": "veille.report.schema",
}

__all__ = ["AnalysisResult", "Report", "Settings", "__version__", "analyze", "load_settings"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'veille' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
