"""Decoding: downscaled gray frames for motion, full-resolution RGB frames for keyframes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from veille.errors import VideoDecodeError
from veille.video.probe import open_container


def analysis_size(width: int, height: int, target_h: int) -> tuple[int, int]:
    """Downscaled (w, h) keeping the aspect ratio, both even, never upscaled."""
    h = min(target_h, height)
    w = max(2, round(width * h / height))
    return w - w % 2 or 2, h - h % 2 or 2


_LUMA_8BIT = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "gray",
    }
)


def small_gray(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame's luma at ``size`` (w, h) as a 2-D ``uint8`` array.

    For 8-bit YUV frames the luma plane is read in place and resized with OpenCV (about 8x faster
    than a swscale conversion at 720p); other pixel formats go through ``reformat``.
    """
    if frame.format.name in _LUMA_8BIT:
        import cv2

        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        return cv2.resize(luma, size, interpolation=cv2.INTER_LINEAR)
    return frame.reformat(width=size[0], height=size[1], format="gray").to_ndarray()


def damaged_warning(count: int) -> str:
    """The report warning for ``count`` packets that could not be decoded."""
    return f"{count} damaged packet(s) could not be decoded and were skipped"


def decode_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, bad: list[int]
) -> Iterator[av.VideoFrame]:
    """Decode from the container's position on; undecodable packets are skipped and counted in ``bad[0]``."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.FFmpegError:
            bad[0] += 1
            if bad[0] > 1000:
                raise VideoDecodeError(f"{container.name}: too many undecodable packets; the file is damaged") from None


def grab_frames(path: Path, times_s: Sequence[float]) -> list[tuple[float, np.ndarray]]:
    """Decode the frames nearest to each time in ``times_s`` at full resolution (RGB).

    Seeks to the keyframe before each wanted time and decodes forward; times are visited in
    order so each stretch is decoded once.
    """
    wanted = sorted(set(times_s))
    out: list[tuple[float, np.ndarray]] = []
    if not wanted:
        return out
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base or 0) or 1 / 90000
        i = 0
        while i < len(wanted):
            container.seek(int(max(0.0, wanted[i] - 0.05) / tb), stream=stream, backward=True)
            i = _collect(container, stream, tb, wanted, i, out)
    return out


def _collect(container, stream, tb: float, wanted: list[float], i: int, out: list) -> int:
    previous = None
    start = i
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                t = float(frame.pts * tb) if frame.pts is not None else 0.0
                while i < len(wanted) and t >= wanted[i] - 1e-3:
                    pick = (
                        frame if previous is None or abs(t - wanted[i]) <= abs(previous[0] - wanted[i]) else previous[1]
                    )
                    pt = t if pick is frame else previous[0]
                    out.append((pt, pick.to_ndarray(format="rgb24")))
                    i += 1
                if i >= len(wanted) or (i > start and wanted[i] - t > 2.0):
                    return i
                previous = (t, frame)
    except av.FFmpegError:
        pass
    if i < len(wanted) and previous is not None:  # past the end: take the last frame
        while i < len(wanted):
            out.append((previous[0], previous[1].to_ndarray(format="rgb24")))
            i += 1
    return len(wanted) if i == start else i
