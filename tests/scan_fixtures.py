"""Session fixtures for the scan tests: short camera-like clips in several encodings (built once)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from veille import sample
from veille.video import synth
from veille.video.synth import FrameFn, Stretch, scene, truth_intervals, walker, write_video

FPS = 10
#: Set (to an absolute folder) to keep the synthetic clips across pytest sessions, as the mutation
#: run does: it starts one session per mutant, and encoding the clips would cost more than the tests.
CLIP_CACHE_ENV = "VEILLE_TEST_CLIP_CACHE"


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> tuple[Path, object]:
    """``build(folder)`` writes clips into ``folder`` and returns their (JSON-able) ground truth.

    Without :data:`CLIP_CACHE_ENV`, a fresh temporary folder per session. With it, the folder is kept
    there under a key of the generators' sources, made once (in a side folder, then renamed, so a
    half-written one is never used) and reused by later sessions.
    """
    root = os.environ.get(CLIP_CACHE_ENV)
    if not root:
        folder = factory.mktemp(name)
        return folder, build(folder)
    sources = b"".join(Path(m.__file__).read_bytes() for m in (synth, sample)) + Path(__file__).read_bytes()
    folder = Path(root) / f"{name}-{hashlib.sha256(sources).hexdigest()[:12]}"
    if not folder.is_dir():
        side = factory.mktemp(name)
        (side / "truth.json").write_text(json.dumps(build(side)))
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.move(side, folder)
        except OSError:  # another session finished it first
            if not folder.is_dir():
                raise
    return folder, json.loads((folder / "truth.json").read_text())


@pytest.fixture(scope="session", name="clips")
def clips_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[tuple[float, float]]]]:
    """30 s, 320x180, 10 fps: 10 s quiet, a 4 s walker, 16 s quiet — as VBR, IPBB, CBR, HEVC, MJPEG.

    Returns encoding → (path, ground-truth active intervals).
    """
    encodings = ("vbr", "ipbb", "cbr", "hevc", "mjpeg")
    names = {encoding: f"{encoding}.{'avi' if encoding == 'mjpeg' else 'mp4'}" for encoding in encodings}

    def build(folder: Path) -> dict[str, list[tuple[float, float]]]:
        background = scene(320, 180)
        truths = {}
        for encoding in encodings:
            stretches = [Stretch(100), Stretch(40, walker(background, 40), True), Stretch(160)]
            flags = write_video(
                folder / names[encoding], stretches, background, fps=FPS, encoding=encoding, bitrate=400_000
            )
            truths[encoding] = truth_intervals(flags, FPS)
        return truths

    folder, truths = built_once(tmp_path_factory, "scan-clips", build)
    return {e: (folder / names[e], [tuple(span) for span in truths[e]]) for e in encodings}


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

    def build(folder: Path) -> list[tuple[float, float]]:
        background = scene(320, 180)
        stretches = [
            Stretch(100),
            Stretch(40, walker(background, 40), True),
            Stretch(60, plain_mover(background, 60), True),
            Stretch(100),
        ]
        return truth_intervals(write_video(folder / "follow.mp4", stretches, background, fps=FPS, encoding="vbr"), FPS)

    folder, truth = built_once(tmp_path_factory, "follow-clip", build)
    return folder / "follow.mp4", [tuple(span) for span in truth]
