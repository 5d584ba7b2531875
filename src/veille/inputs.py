"""Expand command-line inputs (files, folders, globs) into a list of video files."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from veille.constants import VIDEO_EXTENSIONS
from veille.errors import InputNotFoundError


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively by video extension, globs expanded.

    Raises:
        InputNotFoundError: an input matches nothing, or a folder holds no video.
    """
    videos: list[Path] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = _videos_in(path)
            if not found:
                raise InputNotFoundError(
                    f"{path} holds no video files (.mp4, .mkv, .avi, …); give a video or a folder of videos"
                )
            videos += found
        elif path.exists():
            videos.append(path)
        elif glob.has_magic(str(raw)):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not matches:
                raise InputNotFoundError(f"no file matches {raw}; check the pattern")
            videos += matches
        else:
            raise InputNotFoundError(f"{path} does not exist; check the path")
    return list(dict.fromkeys(videos))
