"""Session fixtures for the scan tests: short camera-like clips in several encodings (built once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from veille.video.synth import FrameFn, Stretch, scene, truth_intervals, walker, write_video

FPS = 10


@pytest.fixture(scope="session", name="clips")
def clips_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[tuple[float, float]]]]:
    """30 s, 320x180, 10 fps: 10 s quiet, a 4 s walker, 16 s quiet — as VBR, IPBB, CBR, HEVC, MJPEG.

    Returns encoding → (path, ground-truth active intervals).
    """
    folder = tmp_path_factory.mktemp("scan-clips")
    background = scene(320, 180)
    out = {}
    for encoding in ("vbr", "ipbb", "cbr", "hevc", "mjpeg"):
        path = folder / f"{encoding}.{'avi' if encoding == 'mjpeg' else 'mp4'}"
        stretches = [Stretch(100), Stretch(40, walker(background, 40), True), Stretch(160)]
        flags = write_video(path, stretches, background, fps=FPS, encoding=encoding, bitrate=400_000)
        out[encoding] = (path, truth_intervals(flags, FPS))
    return out


def plain_mover(background: np.ndarray, frames: int, *, x0: float = 0.5, x1: float = 1.0) -> FrameFn:
    """A flat dark figure (no texture) gliding from ``x0`` to ``x1`` of the width.

    The encoder moves a flat block almost for free, so packet sizes barely change while it moves;
    decoded frames show the motion plainly.
    """
    h, w = background.shape[:2]
    bh, bw = h // 4, h // 12
    top = int(h * 0.85) - bh

    def draw(i: int) -> np.ndarray:
        img = background.copy()
        x = int(w * (x0 + (x1 - x0) * i / max(frames - 1, 1)))
        img[top : top + bh, max(0, x) : min(w, x + bw)] = (30, 30, 35)
        return img

    return draw


@pytest.fixture(scope="session", name="follow_clip")
def follow_clip_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """30 s VBR: 10 s quiet, a textured walker for 4 s (hot packets), then a flat figure moving on for
    6 s (motion the packet sizes do not show), 10 s quiet. Returns (path, ground truth: one interval)."""
    path = tmp_path_factory.mktemp("follow-clip") / "follow.mp4"
    background = scene(320, 180)
    stretches = [
        Stretch(100),
        Stretch(40, walker(background, 40), True),
        Stretch(60, plain_mover(background, 60), True),
        Stretch(100),
    ]
    flags = write_video(path, stretches, background, fps=FPS, encoding="vbr")
    return path, truth_intervals(flags, FPS)
