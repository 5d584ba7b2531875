"""Synthetic camera clips with known movers: lanes, sizes and speeds, for the anomaly tests.

A 160x120 scene at 10 fps. Each :class:`Mover` is a textured box crossing the frame left to right
along a lane (its top edge at ``y``), ``speed`` pixels a frame, re-entering when it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veille.video.synth import Stretch, scene, write_video

W, H, FPS = 160, 120, 10
TOP, MIDDLE, BOTTOM = 12, 52, 80  # lanes: people far away, a strip where nothing moves, people near


@dataclass(frozen=True, slots=True)
class Mover:
    """A textured box ``w`` x ``h`` moving ``speed`` px a frame along the lane at ``y``, from ``x0``."""

    y: int
    w: int
    h: int
    speed: float
    x0: float = 0.0
    seed: int = 0


def _texture(mover: Mover) -> np.ndarray:
    rng = np.random.default_rng(mover.seed + 7)
    coarse = rng.integers(20, 235, (mover.h // 3 + 1, mover.w // 3 + 1, 3)).astype(np.uint8)
    return np.kron(coarse, np.ones((3, 3, 1), np.uint8))[: mover.h, : mover.w]


def draw_movers(background: np.ndarray, movers: list[Mover]):
    """A frame function drawing every mover at frame ``i``."""
    textures = [_texture(m) for m in movers]

    def draw(i: int) -> np.ndarray:
        img = background.copy()
        for mover, texture in zip(movers, textures, strict=True):
            span = W + mover.w
            x = int((mover.x0 + mover.speed * i) % span) - mover.w
            left, right = max(0, x), min(W, x + mover.w)
            if right > left:
                img[mover.y : mover.y + mover.h, left:right] = texture[:, left - x : right - x]
        return img

    return draw


def write_clip(path: Path, movers: list[Mover], seconds: float, *, seed: int = 0) -> Path:
    """Encode ``seconds`` of the scene with ``movers`` to ``path`` (H.264)."""
    background = scene(W, H)
    frames = round(seconds * FPS)
    write_video(path, [Stretch(frames, draw_movers(background, movers), True)], background, fps=FPS, seed=seed)
    return path


def usual(speed: float = 1.5) -> list[Mover]:
    """The usual traffic: small far boxes along the top lane, big near ones along the bottom lane."""
    return [
        Mover(TOP, 8, 10, speed, 0, 1),
        Mover(TOP, 8, 10, speed, 85, 2),
        Mover(BOTTOM, 24, 30, speed, 40, 3),
        Mover(BOTTOM, 24, 30, speed, 130, 4),
    ]
