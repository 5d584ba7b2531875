"""Probe a video file: what it is, before any frame is decoded."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from veille.errors import InputNotFoundError, VideoDecodeError
from veille.types import VideoInfo


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
        raise VideoDecodeError(
            f"{path} is not a readable video ({_reason(exc)}); check that it is a complete video file"
        ) from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).split("\n")[0][:120]


def _rotation(stream: av.video.stream.VideoStream) -> int:
    for frame_side in ("rotate",):
        value = stream.metadata.get(frame_side)
        if value:
            try:
                return int(float(value)) % 360
            except ValueError:
                return 0
    return 0


def probe(path: Path) -> VideoInfo:
    """Read duration, frame rate, size, codec and stream properties of ``path``.

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
        avg = float(stream.average_rate or 0) or float(stream.guessed_rate or 0)
        base = float(stream.base_rate or 0) or avg
        duration = _duration_s(container, stream)
        frames = stream.frames or (round(duration * avg) if avg else 0)
        return VideoInfo(
            path=Path(path),
            duration_s=duration,
            fps=avg or base,
            avg_fps=avg,
            variable_frame_rate=bool(avg and base and abs(avg - base) / base > 0.01),
            width=ctx.width,
            height=ctx.height,
            frame_count=int(frames),
            codec=ctx.name,
            rotation=_rotation(stream),
            bit_rate=container.bit_rate or ctx.bit_rate or None,
            pix_fmt=ctx.pix_fmt,
        )


def truncation_warnings(info: VideoInfo) -> list[str]:
    """A warning when the file's own index points past its end (a recording cut short); no decoding."""
    try:
        size = info.path.stat().st_size
        with av.open(str(info.path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            entries = stream.index_entries
            if len(entries) < 2 or stream.time_base is None:
                return []
            last = entries[len(entries) - 1]
            if last.pos + last.size <= size:
                return []
            present = [e.timestamp for e in entries if e.pos + e.size <= size]
    except (av.FFmpegError, OSError, IndexError, ValueError):
        return []
    start = stream.start_time or 0
    reached = (max(present, default=start) - start) * float(stream.time_base)
    return [
        f"the file stops at {reached:.1f} s although its index says {info.duration_s:.1f} s "
        "(truncated recording?); only the part that is there was analysed"
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
