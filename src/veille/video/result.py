"""What a scan found and how much work it took, filled as the scan runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from veille.types import Chunk, ScanStretch, Segment, VideoInfo
from veille.video.chunks import ChunkPlan, load_chunk


@dataclass(slots=True)
class ScanResult:
    """What the scan found and how much work it took (filled as a :class:`ScanStream` runs).

    ``chunks`` hold full-resolution keyframes when :func:`scan_video` ran with ``load_keyframes=True``
    (the default); otherwise they are empty and ``chunk_plans`` + :meth:`iter_chunks` load them one
    chunk at a time. ``scanned_to_s``: the scan's findings are complete up to this time (the
    duration once ``complete``); ``resumed_at_s``: where this run took up an interrupted scan.
    ``end_s``: where the last packet demuxed (or frame decoded) ends, i.e. where the video really stops.
    """

    segments: list[Segment] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    stretches: list[ScanStretch] = field(default_factory=list)
    packets_scanned: int = 0
    frames_decoded: int = 0
    scan_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    chunk_plans: list[ChunkPlan] = field(default_factory=list)
    decoded_s: float = 0.0  # seconds of video the pixel pass decoded
    keyframe_times: list[float] = field(default_factory=list)  # from the packet pass (empty without one)
    info: VideoInfo | None = None
    scanned_to_s: float = 0.0
    resumed_at_s: float | None = None
    complete: bool = False
    end_s: float | None = None

    def iter_chunks(self) -> Iterator[Chunk]:
        """Chunks with their full-resolution keyframes, decoded one chunk at a time."""
        if self.chunks or self.info is None:
            yield from self.chunks
            return
        for plan in self.chunk_plans:
            yield load_chunk(self.info.path, plan, self.keyframe_times)

    def facts(self) -> dict[str, Any]:
        """Everything but chunks, plans and the video, as JSON."""
        return {
            "segments": [dataclasses.asdict(s) for s in self.segments],
            "stretches": [dataclasses.asdict(s) for s in self.stretches],
            "packets_scanned": self.packets_scanned,
            "frames_decoded": self.frames_decoded,
            "scan_s": self.scan_s,
            "warnings": list(self.warnings),
            "decoded_s": self.decoded_s,
            "keyframe_times": list(self.keyframe_times),
            "scanned_to_s": self.scanned_to_s,
            "complete": self.complete,
            "end_s": self.end_s,
        }

    def restore(self, facts: dict[str, Any]) -> None:
        """Take back :meth:`facts` (lists are refilled in place)."""
        self.segments[:] = [Segment(**s) for s in facts["segments"]]
        self.stretches[:] = [ScanStretch(**s) for s in facts["stretches"]]
        self.packets_scanned, self.frames_decoded = facts["packets_scanned"], facts["frames_decoded"]
        self.scan_s, self.decoded_s = facts["scan_s"], facts["decoded_s"]
        self.warnings[:] = facts["warnings"]
        self.keyframe_times[:] = facts["keyframe_times"]
        self.scanned_to_s, self.complete = facts["scanned_to_s"], facts["complete"]
        self.end_s = facts["end_s"]

    def reach(self, t_s: float) -> None:
        """The video holds data up to ``t_s`` at least (``end_s`` grows)."""
        self.end_s = t_s if self.end_s is None else max(self.end_s, t_s)
