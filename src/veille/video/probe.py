"""Probe a video file: what it is, from its container and its first decoded frame."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av

from veille.errors import InputNotFoundError, VideoDecodeError
from veille.types import VideoInfo
from veille.video.atoms import index_missing


def open_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning every failure into a one-line :class:`VideoDecodeError`."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist; check the path")
    if path.is_dir():
        raise VideoDecodeError(f"{path} is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path} is empty (0 bytes); re-export or re-copy the recording")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except PermissionError as exc:
        raise VideoDecodeError(f"cannot read {path}: permission denied; check its permissions") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        if index_missing(path):
            raise VideoDecodeError(
                f"{path} has no index (its 'moov' box is missing, as when a recording is cut off before it is "
                "finalised); export it again from the recorder, or rebuild the index with a repair tool such as "
                "untrunc and an intact recording from the same camera"
            ) from exc
        raise VideoDecodeError(
            f"{path} is not a readable video ({_reason(exc)}); check that it is a complete video file"
        ) from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).split("\n")[0][:120]


def frame_turn(frame: av.VideoFrame) -> int:
    """Clockwise degrees (0, 90, 180 or 270) that turn ``frame`` upright, from its display matrix.

    PyAV gives the matrix's counter-clockwise angle in [-180, 180]; a phone held upright stores
    -90 there, i.e. a 90° clockwise turn.
    """
    return round(-frame.rotation / 90) % 4 * 90


def _rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """The clockwise turn that makes frames upright, from the first decoded frame's display matrix.

    PyAV exposes the display matrix on decoded frames only, so one frame is decoded (after every
    other property has been read: decoding moves the container on). A file whose first packets
    do not decode is taken as upright; the scan reports the damage.
    """
    stream.thread_type = "SLICE"  # a frame comes out of the packet that made it
    stream.codec_context.options = {"skip_loop_filter": "all"}  # only the frame's side data is read
    try:
        for count, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return frame_turn(frame)
            if count >= _ROTATION_PACKETS:
                break
    except av.FFmpegError:
        pass
    return 0


_ROTATION_PACKETS = 32  # decoders with frame delay hand back their first frame within a few packets


def probe(path: Path) -> VideoInfo:
    """Read duration, frame rate, upright size, rotation and codec of ``path``.

    For an MP4/MOV whose index points past the end of the file (a recording cut short), the
    duration and frame count are those of the frames that are there (``declared_duration_s``
    keeps the header's duration).

    Raises:
        InputNotFoundError: the path does not exist.
        VideoDecodeError: the file is not a readable video or holds no video stream.
    """
    with open_container(path) as container:
        _check_is_video(container, path)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise VideoDecodeError(f"{path}: video stream has no frame size; the file may be damaged")
        fps = float(stream.average_rate or 0) or float(stream.guessed_rate or 0) or float(stream.base_rate or 0)
        duration = _duration_s(container, stream)
        frames = stream.frames or (round(duration * fps) if fps else 0)
        present = _present(stream, Path(path).stat().st_size, fps)
        width, height, codec = ctx.width, ctx.height, ctx.name
        rotation = _rotation(container, stream)
    if rotation in (90, 270):
        width, height = height, width
    info = VideoInfo(Path(path), duration, fps, width, height, int(frames), codec, rotation)
    if present is not None and present[0] < duration:
        info = dataclasses.replace(info, duration_s=present[0], frame_count=present[1], declared_duration_s=duration)
    return info


def _present(stream: av.video.stream.VideoStream, size: int, fps: float) -> tuple[float, int] | None:
    """(end time, frame count) of the frames whose bytes are in the file, when the container's
    index (MP4/MOV) points past its end; None when the index is whole or there is none."""
    entries = stream.index_entries
    if len(entries) < 2 or stream.time_base is None:
        return None
    last = entries[len(entries) - 1]
    if last.pos + last.size <= size:
        return None
    present = [e.timestamp for e in entries if e.pos + e.size <= size]
    start = stream.start_time or 0
    if not present:
        return 0.0, 0
    return (max(present) - start) * float(stream.time_base) + (1 / fps if fps else 0.0), len(present)


def played_to(info: VideoInfo, end_s: float | None) -> VideoInfo:
    """``info`` cut to ``end_s``, where the scan found the video's last packet, when that is
    clearly before the duration the header gives (a truncated MKV, AVI…); else ``info`` itself."""
    if end_s is None or end_s <= 0 or info.duration_s - end_s <= max(_SHORT_BY_S, 3 / (info.fps or 25)):
        return info
    frames = min(info.frame_count, round(end_s * info.fps)) if info.fps else info.frame_count
    declared = info.declared_duration_s or info.duration_s
    return dataclasses.replace(info, duration_s=end_s, frame_count=frames, declared_duration_s=declared)


_SHORT_BY_S = 1.0  # a video ending this much before its header's duration is truncated, not rounded


def truncation_warnings(info: VideoInfo) -> list[str]:
    """The report warning for a file that holds less video than its header says."""
    if info.declared_duration_s is None:
        return []
    return [
        f"the video stops at {info.duration_s:.1f} s although the file's header says "
        f"{info.declared_duration_s:.1f} s (truncated recording?); only the part that is there was analysed"
    ]


_IMAGE_FORMATS = ("image2", "_pipe", "gif", "webp")


def _check_is_video(container: av.container.InputContainer, path: Path) -> None:
    """Raise a one-line :class:`VideoDecodeError` unless the container holds a decodable video stream."""
    if not container.streams.video:
        if container.streams.audio:
            raise VideoDecodeError(f"{path} holds only audio, no video stream; give a video file")
        raise VideoDecodeError(f"{path} holds no video frames (empty recording?); give a video file")
    if any(part in (container.format.name or "") for part in _IMAGE_FORMATS):
        raise VideoDecodeError(f"{path} is a still image, not a video; give a video file")
    if container.streams.video[0].codec_context is None:
        raise VideoDecodeError(
            f"{path} uses a video codec this build cannot decode; convert it to H.264 (e.g. with ffmpeg) and retry"
        )


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
