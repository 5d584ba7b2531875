"""When a video was recorded: the wall-clock time of its first frame, where something tells it.

In order of trust:

1. a date and time in the file name (``cam1_20240131_142530.mp4``, ``2024-01-31T14-25-30.mp4``,
   ``20240131142530.mp4``): recorders and NVR exports name files by when they start, in local time;
2. the container's ``creation_time`` (UTC, turned into this machine's local time); a creation time
   before 2000 (the zero of MP4 clocks) is not a time;
3. the file's modification time less the video's duration (a recorder writes the file as it
   records, so it was last written when the recording ended). Copying a file changes this time,
   so it is the least trusted; it is what says that footage copied at once does not span hours.

Times are local, naive (no zone): what matters is the hour of the day the camera saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from veille.errors import VeilleError

FILE_NAME, METADATA, FILE_TIME = "file name", "metadata", "file time"

_STAMP = re.compile(
    r"(?<!\d)(20\d\d)[-_.]?([01]\d)[-_.]?([0-3]\d)[-_.T ]?([0-2]\d)[-_.:h]?([0-5]\d)[-_.:m]?([0-5]\d)(?!\d)"
)


@dataclass(frozen=True, slots=True)
class StartTime:
    """The local wall-clock time of a video's first frame, and what told it."""

    at: datetime
    source: str  # FILE_NAME, METADATA or FILE_TIME

    def seconds_of_day(self) -> float:
        """Seconds since the local midnight before the first frame."""
        return self.at.hour * 3600 + self.at.minute * 60 + self.at.second + self.at.microsecond / 1e6


def from_name(name: str) -> datetime | None:
    """The date and time written in a file name, if one is (the first that is a real date: names that
    hold a start and an end time give the start first)."""
    for match in _STAMP.finditer(name):
        try:
            return datetime(*(int(part) for part in match.groups()))  # type: ignore[arg-type]
        except ValueError:
            continue
    return None


def from_metadata(value: str | None) -> datetime | None:
    """A container's ``creation_time`` (ISO 8601, UTC when it says so) as local time; None when absent or unset."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.year < 2000:
        return None
    return at.astimezone().replace(tzinfo=None) if at.tzinfo is not None else at


def _creation_time(path: Path) -> str | None:
    import av

    from veille.video.probe import open_container

    try:
        with open_container(path) as container:
            tags = dict(container.metadata)
            if container.streams.video:
                tags = {**dict(container.streams.video[0].metadata), **tags}
    except (VeilleError, av.FFmpegError, OSError, ValueError):  # probing reports an unreadable file
        return None
    return tags.get("creation_time")


def start_time(path: Path, duration_s: float) -> StartTime | None:
    """When ``path``'s first frame was recorded, from its name, its metadata or its file time."""
    path = Path(path)
    at = from_name(path.stem)
    if at is not None:
        return StartTime(at, FILE_NAME)
    at = from_metadata(_creation_time(path))
    if at is not None:
        return StartTime(at, METADATA)
    try:
        ended = datetime.fromtimestamp(path.stat().st_mtime)
    except (OSError, ValueError, OverflowError):
        return None
    return StartTime(ended - timedelta(seconds=max(0.0, duration_s)), FILE_TIME)
