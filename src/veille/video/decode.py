"""Decoding: downscaled gray frames for motion, full-resolution RGB frames for keyframes.

Every frame that leaves this module is upright: a stream stored sideways with a display rotation
(phones, body cameras) is turned as a player would show it, so motion boxes, keyframes and
thumbnails share the upright frame's pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np

from veille.cpus import available as available_cpus
from veille.errors import VideoDecodeError
from veille.video.probe import frame_turn, open_container


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """``image`` turned ``turn`` degrees clockwise (0, 90, 180 or 270)."""
    if turn % 360 == 0:
        return image
    import cv2

    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[turn % 360]
    return cv2.rotate(image, code)


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
    """The frame's luma, upright, at ``size`` (w, h of the upright picture) as a 2-D ``uint8`` array.

    For 8-bit YUV frames the luma plane is read in place and resized with OpenCV (about 8x faster
    than a swscale conversion at 720p); other pixel formats go through ``reformat``.
    """
    turn = frame_turn(frame)
    stored = (size[1], size[0]) if turn in (90, 270) else size
    if frame.format.name in _LUMA_8BIT:
        import cv2

        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        return upright(cv2.resize(luma, stored, interpolation=cv2.INTER_LINEAR), turn)
    return upright(frame.reformat(width=stored[0], height=stored[1], format="gray").to_ndarray(), turn)


#: Codecs whose every frame is a keyframe: no packet-size signal, and frame threads always pay.
INTRA_ONLY_CODECS = frozenset({"mjpeg", "jpeg2000", "prores", "dnxhd", "rawvideo", "ffv1", "huffyuv", "png"})


def decode_threads(codec: str = "") -> str:
    """``AUTO`` (frame threads) for intra-only codecs or with at least 4 CPUs, else ``SLICE``.

    On 2 cores, frame threads cost H.264 more than they gain (frames wait for their references):
    720p decoded ~1.4x faster with slice threads (one slice per frame: in effect one thread).
    Intra-only frames decode independently, so frame threads pay there (MJPEG ~1.25x faster).
    """
    cpus = available_cpus()
    return "AUTO" if cpus >= 4 or codec in INTRA_ONLY_CODECS else "SLICE"


def fast_decoding(stream: av.video.stream.VideoStream, codec: str = "", target_h: int = 0) -> None:
    """Decode ``stream`` for motion analysis only: no deblocking, no non-reference frames, low resolution.

    The frames are looked at ``target_h`` (~160) px high, where the loop filter's effect is lost in
    the downscale (skipping it made 720p H.264 decoding 1.2-1.9x faster here); non-reference
    B-frames are left out (half the decoding in IBBP streams, nothing in the IP-only streams most
    cameras send). MJPEG is decoded at 1/2, 1/4 or 1/8 scale by its own IDCT, as small as keeps
    ``target_h`` (720p at 1/4: 2.2x faster).
    """
    stream.thread_type = decode_threads(codec)
    options = {"skip_loop_filter": "all"}
    if codec not in INTRA_ONLY_CODECS:  # where every frame stands alone, none is a reference
        stream.codec_context.skip_frame = "NONREF"
    if codec == "mjpeg" and target_h > 0:
        height = stream.codec_context.height or 0
        lowres = max([k for k in range(4) if height >> k >= target_h], default=0)
        if lowres:
            options["lowres"] = str(lowres)
    stream.codec_context.options = options


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """The frame as upright RGB ``uint8`` (h, w, 3). yuv420p goes through OpenCV, which needs no
    ~70 ms swscale set-up on first use; the result matches swscale's to within 2 levels."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        import cv2

        return upright(cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420), frame_turn(frame))
    return upright(frame.to_ndarray(format="rgb24"), frame_turn(frame))


def damaged_warning(count: int) -> str:
    """The report warning for ``count`` packets that could not be decoded."""
    from veille.i18n import plural

    packets, were = plural(count, "packet", "packets"), plural(count, "was", "were")
    return f"{count} damaged {packets} could not be decoded and {were} skipped"


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


def grab_frames(
    path: Path, times_s: Sequence[float], keyframes: Sequence[float] | None = None
) -> list[tuple[float, np.ndarray]]:
    """Decode the frames nearest to each time in ``times_s`` at full resolution (RGB, upright).

    Seeks to the keyframe at or before each wanted time and decodes forward; times are visited in
    order so each stretch is decoded once. Given the stream's ``keyframes`` (sorted times), it
    decodes on to the next wanted time only when no keyframe lies between (else it seeks there);
    without them, when the next time is at most 2 s ahead.
    """
    wanted = sorted(set(times_s))
    out: list[tuple[float, np.ndarray]] = []
    if not wanted:
        return out
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # after a seek, frame threads fill their pipeline for few frames
        tb = float(stream.time_base or 0) or 1 / 90000
        keys = np.asarray(() if keyframes is None else keyframes, dtype=np.float64)
        i = 0
        while i < len(wanted):
            # the wanted time itself (rounded to the time base): a keyframe there is decoded alone
            container.seek(round(max(0.0, wanted[i]) / tb), stream=stream, backward=True)
            i = _collect(container, stream, tb, wanted, i, out, keys)
    return out


def _seek_sooner(keys: np.ndarray, t: float, want: float) -> bool:
    """Whether seeking beats decoding on from ``t`` to ``want``: a keyframe lies after ``t``, at or before it."""
    if not keys.size:
        return want - t > 2.0
    return int(np.searchsorted(keys, want + 1e-6)) > int(np.searchsorted(keys, t + 1e-6))


def _collect(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    tb: float,
    wanted: list[float],
    i: int,
    out: list[tuple[float, np.ndarray]],
    keys: np.ndarray,
) -> int:
    previous: tuple[float, av.VideoFrame] | None = None
    start = i
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                t = float(frame.pts * tb) if frame.pts is not None else 0.0
                while i < len(wanted) and t >= wanted[i] - 1e-3:
                    nearer = previous is None or abs(t - wanted[i]) <= abs(previous[0] - wanted[i])
                    pt, pick = (t, frame) if nearer or previous is None else previous
                    out.append((pt, to_rgb(pick)))
                    i += 1
                if i >= len(wanted) or (i > start and _seek_sooner(keys, t, wanted[i])):
                    return i
                previous = (t, frame)
    except av.FFmpegError:
        pass
    if i < len(wanted) and previous is not None:  # past the end: take the last frame
        while i < len(wanted):
            out.append((previous[0], to_rgb(previous[1])))
            i += 1
    return len(wanted) if i == start else i
