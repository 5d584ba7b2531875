"""When a recording started, and which camera made it, from what the file itself says.

The start is, in this order: the container's creation time (when plausible), a timestamp in the
file name in the usual camera and NVR patterns (``cam3_20240501_221500.mp4``,
``192.168.1.64_01_20240501221500123.mp4``, ``Front-2024-05-01_22-15-00.mkv``, ``RecM03_20240501_221500_…``),
or the file's modification time less its duration (a recorder writes the file up to its end).
Times without a zone (file names) are read in this machine's local zone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: Oldest start taken as real: cameras without a clock write 1970, 1904 or 2000-01-01.
EARLIEST = datetime(2000, 1, 2).timestamp()
_STAMP = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)[-_.]?(?P<mo>0[1-9]|1[0-2])[-_.]?(?P<d>0[1-9]|[12]\d|3[01])"
    r"[T_\- .]?(?P<h>[01]\d|2[0-3])[-_.:h]?(?P<mi>[0-5]\d)[-_.:m]?(?P<s>[0-5]\d)"
)


@dataclass(frozen=True, slots=True)
class VideoStart:
    """A recording's start (POSIX seconds) and where it was read (``container``, ``filename``, ``mtime``)."""

    ts: float | None = None
    source: str | None = None


def _plausible(ts: float | None) -> bool:
    return ts is not None and EARLIEST <= ts <= datetime.now().timestamp() + 86400


def container_time(path: Path) -> float | None:
    """The container's (or its video stream's) ``creation_time`` tag, when it holds a date."""
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            tags = [container.metadata, *(s.metadata for s in container.streams.video)]
    except Exception:  # an unreadable file simply has no creation time
        return None
    for tag in tags:
        text = str(tag.get("creation_time", "")).strip()
        if text:
            try:
                return datetime.fromisoformat(text.replace(" ", "T", 1)).timestamp()
            except ValueError:
                continue
    return None


def filename_time(name: str) -> float | None:
    """The first date-and-time in a file name (local time), e.g. ``cam3_20240501_221500.mp4``."""
    match = _STAMP.search(name)
    if match is None:
        return None
    parts = {key: int(value) for key, value in match.groupdict().items()}
    try:
        return datetime(parts["y"], parts["mo"], parts["d"], parts["h"], parts["mi"], parts["s"]).timestamp()
    except ValueError:  # 31 February
        return None


def video_start(path: Path, duration_s: float) -> VideoStart:
    """Where a recording starts in time, and how that was known (both None when nothing says)."""
    found = container_time(path) if path.is_file() else None
    if _plausible(found):
        return VideoStart(found, "container")
    found = filename_time(path.name)
    if _plausible(found):
        return VideoStart(found, "filename")
    try:
        found = os.stat(path).st_mtime - max(0.0, duration_s)
    except OSError:
        return VideoStart()
    return VideoStart(found, "mtime") if _plausible(found) else VideoStart()


def camera_name(path: Path, named: str | None = None) -> str | None:
    """The camera of a recording: ``named`` (``analyze --camera``), else the file name's part before its
    timestamp (``cam3`` of ``cam3_20240501_221500.mp4``), else the folder holding the file."""
    if named:
        return named
    match = _STAMP.search(path.stem)
    if match is not None:
        prefix = path.stem[: match.start()].strip(" _-.")
        if prefix:
            return prefix
    parent = path.parent.name
    return parent or None
