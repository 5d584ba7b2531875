"""Clips: a short MP4 cut around each event, for handing the evidence on.

Where a keyframe lies shortly before the clip's start, the packets are copied as they are (no
decoding, no quality loss, fast); otherwise the stretch is decoded and re-encoded (H.264) so the
clip starts where it should.
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from veille.progress import NullProgress, Progress
from veille.report.schema import Report, ReportEvent

CLIPS_DIR = "clips"
COPYABLE = frozenset({"h264", "hevc", "mpeg4", "av1"})  # codecs MP4 holds as they are


@dataclass(frozen=True, slots=True)
class Clip:
    """A written clip: its path relative to the report folder, and how it was made."""

    event_id: int
    path: str
    mode: Literal["copy", "encode"]
    start_s: float
    end_s: float


def keyframe_times(video: Path) -> list[float]:
    """Times (s) of every keyframe of the first video stream, from the packets alone (no decoding)."""
    import av

    times: list[float] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                times.append(float(packet.pts * packet.time_base))
    return sorted(times)


def plan_clip(
    start_s: float, end_s: float, keyframes: list[float], *, codec: str, max_lead_s: float
) -> tuple[Literal["copy", "encode"], float]:
    """Copy from the last keyframe at or before ``start_s`` if it is at most ``max_lead_s`` earlier
    (and MP4 can hold the codec); otherwise re-encode from ``start_s``. Returns (mode, clip start)."""
    index = bisect_right(keyframes, start_s + 1e-6) - 1
    if codec in COPYABLE and index >= 0 and start_s - keyframes[index] <= max_lead_s:
        return "copy", keyframes[index]
    return "encode", start_s


def _copy(video: Path, target: Path, start_s: float, end_s: float) -> None:
    import av

    with av.open(str(video)) as src, av.open(str(target), "w", format="mp4") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        src.seek(round(start_s / float(stream.time_base or 1)), stream=stream, backward=True)
        offset = None
        for packet in src.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            if offset is None:
                if not packet.is_keyframe or packet.pts * packet.time_base < start_s - 1e-3:
                    continue
                offset = packet.pts
            if (packet.dts - offset) * packet.time_base + start_s > end_s:
                break
            packet.pts -= offset
            packet.dts -= offset
            packet.stream = out
            dst.mux(packet)


def _encode(video: Path, target: Path, start_s: float, end_s: float) -> None:
    import av

    with av.open(str(video)) as src, av.open(str(target), "w", format="mp4") as dst:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25).limit_denominator(1001)
        out = dst.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
        out.width = stream.codec_context.width // 2 * 2
        out.height = stream.codec_context.height // 2 * 2
        out.pix_fmt = "yuv420p"
        src.seek(round(max(0.0, start_s) / float(stream.time_base or 1)), stream=stream, backward=True)
        count = 0
        for frame in src.decode(stream):
            if frame.time is None or frame.time < start_s - 1e-3:
                continue
            if frame.time > end_s:
                break
            if count == 0 and frame.rotation:  # keep the source's display rotation: players turn it upright
                out.set_display_rotation(frame.rotation)
            image = frame.reformat(width=out.width, height=out.height, format="yuv420p")
            image.pts, image.time_base = count, 1 / rate
            dst.mux(out.encode(image))
            count += 1
        dst.mux(out.encode(None))


def cut_clip(
    video: Path,
    folder: Path,
    event: ReportEvent,
    keyframes: list[float],
    *,
    codec: str,
    duration_s: float,
    pad_s: float = 2.0,
    max_lead_s: float = 3.0,
) -> Clip:
    """Write ``clips/eventNNN.mp4`` for ``event`` (atomically) and say how it was made."""
    start = max(0.0, event.start_s - pad_s)
    end = min(duration_s or event.end_s + pad_s, event.end_s + pad_s)
    mode, clip_start = plan_clip(start, end, keyframes, codec=codec, max_lead_s=max_lead_s)
    relative = f"{CLIPS_DIR}/event{event.id:03d}.mp4"
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        (_copy if mode == "copy" else _encode)(video, tmp, clip_start, end)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return Clip(event.id, relative, mode, clip_start, end)


def add_clips(
    report: Report, video: Path, folder: Path, *, progress: Progress | None = None, max_lead_s: float = 3.0
) -> tuple[Report, list[Clip], list[str]]:
    """Cut a clip for every event; return the report with each event's ``clip`` set, the clips,
    and a warning per event whose clip could not be made (the report is still written)."""
    import av

    progress = progress or NullProgress()
    clips: list[Clip] = []
    warnings: list[str] = []
    try:
        keyframes = keyframe_times(video) if report.events else []
    except (av.FFmpegError, OSError) as exc:
        keyframes = []
        progress.warn(f"cannot read the keyframes of {video.name} ({str(exc).splitlines()[0][:120]}); clips re-encoded")
    progress.start("clips", len(report.events))
    events = []
    for done, event in enumerate(report.events, start=1):
        try:
            clip = cut_clip(
                video,
                folder,
                event,
                keyframes,
                codec=report.video.codec,
                duration_s=report.video.duration_s,
                max_lead_s=max_lead_s,
            )
        except (av.FFmpegError, OSError, ValueError) as exc:
            warnings.append(f"no clip for event {event.id}: {str(exc).splitlines()[0][:120]}")
            events.append(event)
        else:
            clips.append(clip)
            events.append(event.model_copy(update={"clip": clip.path}))
        progress.update("clips", done)
    progress.finish("clips")
    for warning in warnings:
        progress.warn(warning)
    updated = report.model_copy(update={"events": events, "warnings": [*report.warnings, *warnings]})
    return updated, clips, warnings
