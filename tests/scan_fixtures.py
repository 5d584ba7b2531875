"""Session fixtures for the scan tests: short camera-like clips in several encodings (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.video.synth import Stretch, scene, truth_intervals, walker, write_video

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
