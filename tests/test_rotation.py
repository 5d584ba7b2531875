"""Footage stored sideways with a display rotation (phones, body cameras) is analysed upright.

The clips are drawn upright first (a marker in the top-left corner, a block moving in the lower
part), then stored turned the other way with a display matrix saying how a player turns them
back, as a phone does. Everything that leaves the scan must show the upright picture.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from veille.cli import main
from veille.report.clips import cut_clip
from veille.report.schema import ReportEvent
from veille.settings import ScanSettings
from veille.video.decode import grab_frames
from veille.video.probe import probe
from veille.video.scan import scan_video

W, H = 120, 160  # the upright picture: portrait
FPS, N = 10, 60
BLOCK_Y = (100, 130)  # rows of the moving block in the upright picture


def upright_picture(i: int) -> np.ndarray:
    """Frame ``i`` as a person should see it."""
    img = np.full((H, W, 3), 40, np.uint8)
    img[4:24, 4:24] = 250  # marker: top-left corner
    x = (i * 3) % (W - 30)
    img[BLOCK_Y[0] : BLOCK_Y[1], x : x + 30] = 200
    return img


def write_turned(path: Path, turn: int) -> Path:
    """A clip whose frames are stored turned ``turn`` degrees counter-clockwise, with a display
    matrix telling players to turn them ``turn`` degrees clockwise (a phone held upright: 90)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stored = np.rot90(upright_picture(0), turn // 90)  # np.rot90 turns counter-clockwise
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.set_display_rotation(-turn)  # PyAV's angle is counter-clockwise
        for i in range(N):
            image = np.ascontiguousarray(np.rot90(upright_picture(i), turn // 90))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def turned(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("turned")
    return {turn: write_turned(folder / f"phone{turn}.mp4", turn) for turn in (0, 90, 180, 270)}


def _is_upright(image: np.ndarray, i: int) -> bool:
    return image.shape == (H, W, 3) and float(np.abs(image.astype(int) - upright_picture(i)).mean()) < 8


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_probe_reads_the_rotation_and_gives_the_upright_size(turned: dict[int, Path], turn: int) -> None:
    info = probe(turned[turn])
    assert info.rotation == turn
    assert (info.width, info.height) == (W, H)
    assert info.stored_size == ((H, W) if turn in (90, 270) else (W, H))


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_keyframes_come_out_upright(turned: dict[int, Path], turn: int) -> None:
    frames = grab_frames(turned[turn], [1.0, 4.0])
    assert len(frames) == 2
    for t, image in frames:
        assert _is_upright(image, round(t * FPS)), f"frame at {t} s is not upright"


@pytest.mark.parametrize("turn", [90, 270])
def test_motion_boxes_are_in_the_upright_frame(turned: dict[int, Path], turn: int) -> None:
    info = probe(turned[turn])
    result = scan_video(info, ScanSettings(heartbeat_min=0, mode="pixels"))
    keyframes = [k for c in result.chunks for k in c.keyframes]
    assert keyframes, "the moving block was not found"
    boxes = [b for k in keyframes for b in k.boxes] + [b for c in result.chunks for b in c.motion_boxes]
    assert boxes
    for box in boxes:
        x1, y1, x2, y2 = box.xyxy
        assert 0 <= x1 < x2 <= W + 1 and 0 <= y1 < y2 <= H + 1, box
        assert y1 >= BLOCK_Y[0] - 12 and y2 <= BLOCK_Y[1] + 12, f"box {box.xyxy} is not around the moving block"
    for keyframe in keyframes:
        assert _is_upright(keyframe.image, round(keyframe.t_s * FPS))


def test_report_and_thumbnails_are_upright(turned: dict[int, Path], tmp_path: Path) -> None:
    main(["analyze", str(turned[90]), "--profile", "motion", "--out", str(tmp_path), "-q"])
    report = json.loads((tmp_path / "phone90" / "report.json").read_text())
    assert (report["video"]["width"], report["video"]["height"], report["video"]["rotation"]) == (W, H, 90)
    keyframes = [k for e in report["events"] for k in e["keyframes"]]
    assert keyframes
    for keyframe in keyframes:
        image = cv2.imread(str(tmp_path / "phone90" / keyframe["image"]))
        assert image.shape[:2] == (H, W)
        assert image[4:24, 4:24].mean() > 200, "the top-left marker is not top-left"
        for box in keyframe["boxes"]:
            assert box["xyxy"][2] <= W + 1 and box["xyxy"][3] <= H + 1


def test_re_encoded_clip_keeps_the_display_rotation(turned: dict[int, Path], tmp_path: Path) -> None:
    event = ReportEvent(
        id=1, start_s=2.0, end_s=3.0, title="t", description="d", threat_level=0, confidence=0.5, source="motion"
    )
    clip = cut_clip(turned[90], tmp_path, event, [], codec="not-copyable", duration_s=N / FPS)
    assert clip.mode == "encode"
    with av.open(str(tmp_path / clip.path)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == -90  # players turn it 90° clockwise, as the source


def test_models_see_upright_keyframes_through_the_streamed_pipeline(turned: dict[int, Path], tmp_path: Path) -> None:
    """The describer and the grounder get the upright picture: keyframes decoded chunk by chunk as
    the scan streams them, and the grounder's keyframe decoded again after its thumbnail was written."""
    from dataclasses import dataclass, field
    from typing import Any

    from tests.test_analysis import fake_session
    from veille.backends.fake import FakeBackend
    from veille.pipeline import analyze
    from veille.settings import Settings

    @dataclass
    class Seeing(FakeBackend):
        images: list[np.ndarray] = field(default_factory=list)

        def generate_batch(self, requests: Any, *, max_new_tokens: int) -> list[str]:
            self.images += [image for _, images in requests for image in images]
            return super().generate_batch(requests, max_new_tokens=max_new_tokens)

        def ground(self, image: Any) -> Any:
            self.images.append(image)
            return super().ground(image)

    describer = Seeing("vlm", default="A grey block slides along the bottom of the picture.")
    grounder = Seeing("kosmos")
    scan = ScanSettings(heartbeat_min=0, mode="pixels")
    settings = Settings(out_dir=tmp_path, scan=scan, describe={"layout": "frames"})  # each keyframe as it is
    with fake_session(tmp_path, describer=describer, grounder=grounder) as session:
        result = analyze(turned[90], settings, models=session)
    assert describer.images and grounder.images and result.report.events, result.report.warnings
    times = [k.t_s for e in result.report.events for k in e.keyframes]
    assert len(describer.images) >= len(times)
    for image in [*describer.images, *grounder.images]:
        assert image.shape == (H, W, 3), "a sideways frame reached a model"
        assert image[4:24, 4:24].mean() > 200, "the top-left marker is not top-left"
