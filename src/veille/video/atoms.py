"""The top-level boxes ("atoms") of an MP4/MOV file, read from their 8-16-byte headers only.

An MP4 keeps its index (``moov``: where each frame lies, how long the video is) apart from the
media data (``mdat``). Recorders that write the index last leave a file with data and no index
when the recording is cut off before it is finalised: FFmpeg then only says "Invalid data".
Walking the top-level boxes tells that case apart cheaply, without any demuxing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# Top-level box types of ISO BMFF / QuickTime files; a file whose first box is not one of these
# is not taken for an MP4.
_TOP_LEVEL = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin", b"moof", b"mfra", b"meta", b"styp"}
)
_MAX_BOXES = 100_000  # a fragmented hour holds a few thousand


@dataclass(frozen=True, slots=True)
class TopBox:
    """One top-level box: its type, where it starts, its declared size, and whether all of it is there."""

    kind: str
    start: int
    size: int
    complete: bool


def top_level_boxes(path: Path) -> list[TopBox]:
    """The top-level boxes of ``path``, in file order; empty when it does not look like an MP4/MOV
    (its first box is not a known top-level one). The walk stops at the first box that runs past
    the end of the file (listed, incomplete) or that makes no sense (not listed)."""
    boxes: list[TopBox] = []
    path = Path(path)
    total = path.stat().st_size
    with open(path, "rb") as handle:
        pos = 0
        while pos + 8 <= total and len(boxes) < _MAX_BOXES:
            handle.seek(pos)
            head = handle.read(16)
            size, kind = struct.unpack(">I4s", head[:8])
            if size == 1 and len(head) == 16:
                size = struct.unpack(">Q", head[8:])[0]
            elif size == 0:  # "to the end of the file"
                size = total - pos
            if size < 8 or not _printable(kind) or (not boxes and kind not in _TOP_LEVEL):
                break
            boxes.append(TopBox(kind.decode("latin-1"), pos, size, pos + size <= total))
            pos += size
    return boxes


def _printable(kind: bytes) -> bool:
    return all(32 <= c < 127 for c in kind)


def index_missing(path: Path) -> bool:
    """True for an MP4/MOV that holds media data but no complete index (``moov``)."""
    try:
        boxes = top_level_boxes(path)
    except OSError:
        return False
    has_data = any(box.kind == "mdat" for box in boxes)
    return has_data and not any(box.kind == "moov" and box.complete for box in boxes)
