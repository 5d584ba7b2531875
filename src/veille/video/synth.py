"""Camera-like test videos: quiet stretches (still background, sensor noise, slow light drift)
around active stretches, encoded as cameras do (x264/x265 VBR or CBR, MJPEG).

Used by the tests and the scan benchmark; the active frames come from a callable, so real
footage can be spliced in between synthetic quiet stretches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

FrameFn = Callable[[int], np.ndarray]  # frame index within the stretch → RGB uint8 (H, W, 3)


@dataclass(frozen=True, slots=True)
class Stretch:
    """One piece of the timeline: ``frames`` frames drawn by ``draw`` (None: quiet background)."""

    frames: int
    draw: FrameFn | None = None
    active: bool = False


ENCODINGS: dict[str, tuple[str, dict[str, str]]] = {
    "vbr": ("libx264", {"crf": "23", "preset": "veryfast"}),
    "vbr-ip": ("libx264", {"crf": "23", "preset": "veryfast", "bf": "0"}),  # "IP only", most cameras
    "vbr-ultrafast": ("libx264", {"crf": "23", "preset": "ultrafast"}),
    "ipbb": ("libx264", {"crf": "23", "preset": "veryfast", "bf": "3"}),
    "cbr": ("libx264", {"preset": "veryfast", "x264-params": "nal-hrd=cbr"}),
    "hevc": ("libx265", {"crf": "26", "preset": "ultrafast", "x265-params": "log-level=none"}),
    "mjpeg": ("mjpeg", {}),
}


def write_video(
    out: Path,
    stretches: Iterable[Stretch],
    background: np.ndarray,
    *,
    fps: int = 10,
    encoding: str = "vbr",
    gop_s: float = 2.0,
    bitrate: int = 2_000_000,
    noise: float = 2.0,
    drift: float = 0.03,
    seed: int = 0,
) -> list[bool]:
    """Encode the stretches to ``out`` (MP4, or AVI for MJPEG); return per-frame ``active`` flags.

    Quiet frames are ``background`` plus Gaussian sensor noise and a slow sinusoidal light drift
    (``drift`` relative amplitude over ~10 minutes); drawn frames get the same noise and drift.
    """
    codec, options = ENCODINGS[encoding]
    options = {**options, "g": str(max(1, round(gop_s * fps)))}
    if encoding == "cbr":
        options |= {"b": str(bitrate), "minrate": str(bitrate), "maxrate": str(bitrate), "bufsize": str(bitrate // 2)}
    h, w = background.shape[:2]
    rng = np.random.default_rng(seed)
    noises = rng.normal(0, noise, (6, h, w, 3)).astype(np.float32)
    base = background.astype(np.float32)
    flags: list[bool] = []

    def frames() -> Iterator[np.ndarray]:
        for stretch in stretches:
            for i in range(stretch.frames):
                n = len(flags)
                light = 1 + drift * np.sin(2 * np.pi * n / (fps * 600))
                img = stretch.draw(i).astype(np.float32) if stretch.draw else base
                flags.append(stretch.active)
                yield np.clip(img * light + noises[n % len(noises)], 0, 255).astype(np.uint8)

    encode_frames(out, frames(), fps=fps, codec=codec, options=options)
    return flags


def encode_frames(
    out: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    container_format: str | None = None,
) -> int:
    """Encode RGB ``uint8`` frames to ``out`` at ``fps`` (one pts per frame); returns how many.

    The one encoder of every synthetic video (the tests', the benchmarks' and ``veille sample``'s).
    """
    count = 0
    with av.open(str(out), "w", format=container_format) as container:
        stream: Any = None
        for img in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps, options=options or {})
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
                stream.time_base = Fraction(1, fps)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = count
            container.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def scene(width: int, height: int) -> np.ndarray:
    """A plain synthetic background: sky gradient, ground, two buildings."""
    img = np.zeros((height, width, 3), np.float32)
    img[: height // 2] = np.linspace(170, 120, height // 2)[:, None, None]
    img[height // 2 :] = (95, 100, 96)
    img[height // 5 : height * 3 // 5, width // 10 : width * 2 // 5] = (120, 110, 105)
    img[height // 4 : height * 3 // 5, width * 3 // 5 : width * 9 // 10] = (140, 135, 125)
    return img.astype(np.uint8)


def walker(background: np.ndarray, frames: int, *, size: float = 0.25) -> FrameFn:
    """A textured figure (a box of random clothing-like texture) crossing from left to right."""
    h, w = background.shape[:2]
    bh, bw = int(h * size), max(4, int(h * size / 3))
    texture = np.random.default_rng(frames).integers(20, 200, (bh // 4 + 1, bw // 4 + 1, 3)).astype(np.uint8)
    texture = np.kron(texture, np.ones((4, 4, 1), np.uint8))[:bh, :bw]

    def draw(i: int) -> np.ndarray:
        img = background.copy()
        x = int((w + bw) * i / max(frames - 1, 1)) - bw
        y = int(h * 0.85) - bh
        left, right = max(0, x), min(w, x + bw)
        if right > left:
            img[y : y + bh, left:right] = texture[:, left - x : right - x]
        return img

    return draw


def truth_intervals(flags: list[bool], fps: float) -> list[tuple[float, float]]:
    """Active frame runs as ``[start_s, end_s)`` intervals."""
    out: list[tuple[float, float]] = []
    start = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start / fps, i / fps))
            start = None
    return out
