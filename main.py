"""The seed's entry point: ``python main.py VIDEO [--verbose]`` and ``python main.py --list-models``.

Both map onto the ``veille`` command: ``main.py VIDEO...`` is ``veille analyze VIDEO...`` (every
analyze option works), ``main.py --list-models`` is ``veille models list``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from veille.cli import cli, run


def main(argv: list[str]) -> None:
    """Translate the seed's forms into ``veille`` commands."""
    if "--list-models" in argv:
        rest = [a for a in argv if a != "--list-models"]
        run(cli, ["models", "list", *rest])
    elif not argv or argv[0] in {"-h", "--help"}:
        run(cli, ["analyze", "--help"])
    else:
        run(cli, ["analyze", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
