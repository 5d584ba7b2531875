"""Where camera profiles live: one ``NAME.npz`` per camera in the user's data folder.

The folder follows the platform's convention for user data (``$XDG_DATA_HOME/veille/cameras``,
by default ``~/.local/share/veille/cameras`` on Linux; ``~/Library/Application Support/veille/cameras``
on macOS; ``%LOCALAPPDATA%\\veille\\cameras`` on Windows), unless ``--cameras-dir`` or the
``cameras_dir`` setting names another.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from veille.anomaly.profile import CameraProfile, from_file, to_bytes
from veille.errors import CameraProfileError, OutputError
from veille.io import write_bytes

SUFFIX = ".npz"
SELF = "self"  # not a stored camera: ``analyze --camera self`` learns from the video itself
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def default_cameras_dir() -> Path:
    """The platform's folder for veille's camera profiles."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "veille" / "cameras"


def check_name(name: str) -> str:
    """``name`` if it can name a camera (letters, digits, ``_ . -``; at most 64), else a one-line error."""
    if not _NAME.match(name or ""):
        raise CameraProfileError(
            f"'{name}' cannot name a camera; use letters, digits, '_', '.' or '-' (at most 64, not starting with "
            "'.' or '-')"
        )
    if name == SELF:
        raise CameraProfileError("'self' is reserved (analyze --camera self learns from the video); pick another name")
    return name


class CameraStore:
    """The camera profiles of one folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_cameras_dir()

    def path(self, name: str) -> Path:
        """Where camera ``name``'s profile is (or would be) stored."""
        return self.folder / f"{check_name(name)}{SUFFIX}"

    def names(self) -> list[str]:
        """The cameras with a profile here, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob(f"*{SUFFIX}") if p.is_file() and _NAME.match(p.stem))

    def exists(self, name: str) -> bool:
        """Whether camera ``name`` has a profile here."""
        return self.path(name).is_file()

    def load(self, name: str) -> CameraProfile:
        """Camera ``name``'s profile.

        Raises:
            CameraProfileError: no such camera (the message lists the known ones), or the file is
                damaged or from a newer veille.
        """
        path = self.path(name)
        if not path.is_file():
            raise CameraProfileError(self._unknown(name))
        return from_file(path)

    def save(self, profile: CameraProfile) -> Path:
        """Write ``profile`` atomically (a crash never leaves half a profile)."""
        path = self.path(profile.meta.name)
        write_bytes(path, to_bytes(profile))
        return path

    def remove(self, name: str) -> Path:
        """Delete camera ``name``'s profile; return where it was."""
        path = self.path(name)
        if not path.is_file():
            raise CameraProfileError(self._unknown(name))
        try:
            path.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove {path}: {exc.strerror or exc}; check the folder's permissions") from exc
        return path

    def _unknown(self, name: str) -> str:
        known = self.names()
        listed = ", ".join(known) if known else "none yet"
        return (
            f"no camera named '{name}' in {self.folder} (known: {listed}); "
            f"calibrate it first: veille calibrate VIDEO... --camera {name}"
        )
