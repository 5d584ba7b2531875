"""The package layers: the backends sit below the model management (no import cycle between them)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import veille.backends

BACKEND_MODULES = sorted(f"veille.backends.{m.name}" for m in pkgutil.iter_modules(veille.backends.__path__))


def test_backends_import_neither_the_model_management_nor_the_report() -> None:
    """Importing every backend module (in a fresh interpreter) loads nothing of veille.models or veille.report."""
    code = (
        "import sys\n"
        f"for name in {BACKEND_MODULES!r}:\n"
        "    __import__(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('veille.models', 'veille.report'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "veille.backends.runtime" in BACKEND_MODULES and "veille.backends.base" in BACKEND_MODULES
    assert out.strip() == "[]", f"backends import the layers above them: {out.strip()}"
