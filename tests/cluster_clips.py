"""Small camera-like clips for the cluster tests and benchmark: quiet, a walker crossing, quiet."""

from __future__ import annotations

from pathlib import Path

from veille.video.synth import Stretch, scene, walker, write_video


def write_clips(
    root: Path, count: int, *, seconds: float = 12.0, fps: int = 10, size: tuple[int, int] = (160, 120)
) -> list[Path]:
    """``count`` clips ``cam00.mp4``… of ``seconds`` each under ``root``; each has one walker, placed differently."""
    root.mkdir(parents=True, exist_ok=True)
    background = scene(*size)
    frames = round(seconds * fps)
    paths = []
    for n in range(count):
        walk = max(10, frames // 3)
        before = (frames - walk) * (n % 5 + 1) // 6
        after = frames - walk - before
        stretches = [Stretch(before), Stretch(walk, walker(background, walk + n), True), Stretch(after)]
        path = root / f"cam{n:02d}.mp4"
        write_video(path, stretches, background, fps=fps, encoding="vbr-ip", seed=n)
        paths.append(path)
    return paths
