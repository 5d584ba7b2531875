"""A synthetic CCTV-like clip with known ground truth: the embedded demo input and a test fixture.

A static scene (sky, building, road) with sensor noise and a slow light drift; people-like shapes
enter, cross, stop and leave, separated by quiet gaps. The ground truth (``OUT.json``) lists the
intervals during which any shape is in view.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from veille.io import write_text
from veille.progress import NullProgress, Progress
from veille.video.synth import ENCODINGS, encode_frames

PATTERNS = ("cross_lr", "loiter", "pair_rl", "enter_leave")


@dataclass(frozen=True, slots=True)
class Walker:
    """One moving figure: where it is at time t (None when out of view)."""

    start_s: float
    end_s: float
    x0: float
    x1: float
    y: float
    pause: tuple[float, float] | None
    color: tuple[int, int, int]

    def position(self, t: float, width: int) -> tuple[int, int] | None:
        """Pixel position of the figure's feet at time ``t``, or ``None`` when not in view."""
        if not self.start_s <= t < self.end_s:
            return None
        moving = self.end_s - self.start_s
        if self.pause:
            moving -= self.pause[1] - self.pause[0]
            if self.pause[0] <= t < self.pause[1]:
                t = self.pause[0]
            elif t >= self.pause[1]:
                t -= self.pause[1] - self.pause[0]
        u = (t - self.start_s) / moving
        x = self.x0 + (self.x1 - self.x0) * u
        return round(x * width), round(self.y + 2 * np.sin(t * 9))


def schedule(seconds: float, height: int) -> list[Walker]:
    """The walkers of a clip: one pattern every 20 s, starting 5 s in, each 6–10 s long."""
    walkers: list[Walker] = []
    rng = np.random.default_rng(7)
    start, i = 5.0, 0
    while start + 6 < seconds:
        kind = PATTERNS[i % len(PATTERNS)]
        length = min(10.0 if kind == "loiter" else 7.0, seconds - start - 1)
        walkers += _pattern(kind, start, length, height, rng)
        start, i = start + 20.0, i + 1
    return walkers


def _pattern(kind: str, start: float, length: float, height: int, rng: np.random.Generator) -> list[Walker]:
    y = height * 0.82
    red, green, blue = (int(c) for c in rng.integers(40, 220, 3))
    color = (red, green, blue)
    end = start + length
    if kind == "cross_lr":
        return [Walker(start, end, -0.05, 1.05, y, None, color)]
    if kind == "loiter":
        return [Walker(start, end, 1.05, -0.05, y, (start + 3, start + 3 + length / 3), color)]
    if kind == "pair_rl":
        return [
            Walker(start, end, 1.05, -0.05, y, None, color),
            Walker(start + 0.7, end, 1.1, -0.05, y * 0.96, None, (200, 60, 60)),
        ]
    half = start + length / 2
    return [
        Walker(start, half, -0.05, 0.45, y * 0.92, None, color),
        Walker(half, end, 0.45, -0.05, y * 0.92, None, color),
    ]


def _background(width: int, height: int) -> np.ndarray:
    img = np.zeros((height, width, 3), np.float32)
    sky = np.linspace(170, 120, int(height * 0.45))[:, None, None]
    img[: len(sky)] = sky * np.array([1.0, 1.02, 1.1])
    img[len(sky) :] = (95, 100, 96)
    cv2.rectangle(
        img, (int(width * 0.08), int(height * 0.18)), (int(width * 0.42), int(height * 0.62)), (120, 110, 105), -1
    )
    cv2.rectangle(
        img, (int(width * 0.20), int(height * 0.42)), (int(width * 0.27), int(height * 0.62)), (60, 50, 45), -1
    )
    cv2.rectangle(
        img, (int(width * 0.60), int(height * 0.30)), (int(width * 0.92), int(height * 0.62)), (140, 135, 125), -1
    )
    cv2.line(img, (0, int(height * 0.9)), (width, int(height * 0.9)), (150, 150, 140), 2)
    return img


def _draw(img: np.ndarray, x: int, y: int, height: int, color: tuple[int, int, int]) -> None:
    h = int(height * 0.28)
    w = max(6, h // 3)
    cv2.rectangle(img, (x - w // 2, y - h), (x + w // 2, y - h // 3), color, -1)
    cv2.rectangle(img, (x - w // 2, y - h // 3), (x + w // 2, y), (40, 40, 60), -1)
    cv2.circle(img, (x, y - h - w // 2), max(3, w // 2), (180, 150, 130), -1)


def _scene(background: np.ndarray, walkers: list[Walker], t: float, seconds: float) -> np.ndarray:
    """The noiseless picture at time ``t``: the lit background and the walkers in view."""
    height, width = background.shape[:2]
    img = background * (1 + 0.03 * np.sin(2 * np.pi * t / max(seconds, 1)))
    for walker in walkers:
        pos = walker.position(t, width)
        if pos:
            _draw(img, pos[0], pos[1], height, walker.color)
    return img


def make_sample(
    out: Path,
    *,
    seconds: float = 60.0,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Write the synthetic clip to ``out`` and its ground truth to ``out`` with ``.json``.

    ``progress`` hears of each second of video written (stage ``sample <name>``, in seconds).

    Returns:
        The ground truth: ``{"video", "fps", "duration_s", "active_intervals": [[start, end], ...]}``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    walkers = schedule(seconds, height)
    background = _background(width, height)
    noise = rng.normal(0, 2.0, (8, height, width, 3)).astype(np.float32)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    progress = progress or NullProgress()
    stage = f"sample {out.name}"
    progress.start(stage, seconds, unit="s")

    def frames() -> Iterator[np.ndarray]:
        for i in range(round(seconds * fps)):
            t = i / fps
            if i % fps == 0:
                progress.update(stage, t)
            img = _scene(background, walkers, t, seconds) + noise[rng.integers(len(noise))]
            yield np.clip(img, 0, 255).astype(np.uint8)

    try:
        codec, options = ENCODINGS["vbr"]
        options = {**options, "g": str(2 * fps)}
        encode_frames(tmp, frames(), fps=fps, codec=codec, options=options, container_format="mp4")
        tmp.replace(out)
    finally:
        progress.finish(stage)
    truth = {
        "video": out.name,
        "fps": fps,
        "duration_s": seconds,
        "active_intervals": _intervals(walkers, width, seconds),
    }
    write_text(out.with_suffix(".json"), json.dumps(truth, indent=2) + "\n")
    return truth


def _intervals(walkers: list[Walker], width: int, seconds: float) -> list[list[float]]:
    spans = sorted((w.start_s, min(w.end_s, seconds)) for w in walkers)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [[round(a, 3), round(b, 3)] for a, b in merged]
