"""The filters of a search as a person types them: times (``--since``/``--until``) and cameras."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from veille.errors import UsageError

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(text: str, option: str = "--since", *, now: datetime | None = None) -> float:
    """POSIX seconds of a ``--since``/``--until`` value.

    Accepted: an ISO date or date and time (``2024-05-01``, ``2024-05-01 22:30``, ``2024-05-01T22:30:00+02:00``;
    local time unless a zone is given), ``today``, ``yesterday``, or a time ago (``30m``, ``12h``, ``7d``, ``2w``).
    A date alone given to ``--until`` means the end of that day.

    Raises:
        UsageError: the value is none of these.
    """
    now = now or datetime.now()
    value = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    until = option == "--until"
    if value in ("today", "yesterday"):
        day = midnight - timedelta(days=value == "yesterday")
        return (day + timedelta(days=1) if until else day).timestamp()
    ago = _AGO.match(value)
    if ago:
        return (now - timedelta(seconds=float(ago.group(1)) * _UNITS[ago.group(2)])).timestamp()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: give a date or date and time (2024-05-01, '2024-05-01 22:30'), "
            "today, yesterday, or a time ago (30m, 12h, 7d)"
        ) from None
    if until and _DATE_ONLY.match(text.strip()):
        when += timedelta(days=1)
    return when.timestamp()


def match_camera(wanted: str, known: Iterable[str | None]) -> str:
    """The indexed camera ``wanted`` names (case does not matter).

    Raises:
        UsageError: no indexed video comes from such a camera (the message lists those that do).
    """
    names = sorted({name for name in known if name})
    for name in names:
        if name.casefold() == wanted.strip().casefold():
            return name
    listed = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    hint = f"the cameras in the index are: {listed}" if names else "no indexed video names its camera"
    raise UsageError(f"unknown camera {wanted!r}; {hint}")
