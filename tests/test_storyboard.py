"""The describer's storyboard: tile layout, the view around the motion, and what a whole analysis sends.

Through the real pipeline with the fake backend (its history keeps the images it received) and
through ``veille analyze`` with the tiny Idefics3 checkpoint (its backend wrapped to keep them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli_run import in_process
from tests.test_analysis import fake_session
from veille.analysis.describe import resolve_layout
from veille.analysis.storyboard import DEFAULT_SIZE, CropRule, cells, compose, grid_for, native_size, view_for
from veille.backends.fake import FakeBackend
from veille.models import manager
from veille.pipeline import analyze
from veille.settings import ScanSettings, Settings
from veille.types import Keyframe
from veille.video.synth import Stretch, scene, write_video

W, H = 640, 360
PIXELS = ScanSettings(mode="pixels")  # the figure is too small for the packet sizes to show it
BLOCK = (24, 48)  # the red figure's width and height, in pixels


def red_mask(image: np.ndarray) -> np.ndarray:
    """Where the red figure is (after video compression)."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 90) & (b < 90)


@pytest.fixture(scope="session")
def corner_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s, 640x360, 10 fps: 3 s quiet, a red figure pacing in the lower right for 5 s, 4 s quiet."""
    background = scene(W, H)
    rng = np.random.default_rng(0)
    bright = rng.random((BLOCK[1] // 4, BLOCK[0] // 4)) < 0.5  # red cloth with dark folds
    texture = np.where(bright[..., None], np.uint8((230, 30, 30)), np.uint8((40, 5, 5)))
    texture = np.kron(texture, np.ones((4, 4, 1), np.uint8))

    def draw(i: int) -> np.ndarray:
        img = background.copy()
        x = 470 + int(70 * abs((i % 20) - 10) / 10)  # to and fro over 70 px
        img[240 : 240 + BLOCK[1], x : x + BLOCK[0]] = texture
        return img

    path = tmp_path_factory.mktemp("storyboard") / "corner.mp4"
    write_video(path, [Stretch(30), Stretch(50, draw, True), Stretch(40)], background, fps=10)
    return path


# ------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize(
    ("count", "aspect", "grid"),
    [
        (4, 16 / 9, (2, 2)),
        (2, 16 / 9, (1, 2)),
        (6, 16 / 9, (2, 3)),
        (4, 4 / 3, (2, 2)),
        (2, 9 / 16, (2, 1)),
        (1, 1, (1, 1)),
    ],
)
def test_grid_fits_the_tiles_to_the_frame_shape(count: int, aspect: float, grid: tuple[int, int]) -> None:
    assert grid_for(count, aspect) == grid


def test_cells_fill_the_canvas_between_thin_separators() -> None:
    places = cells((384, 384), 2, 2, 2)
    assert places == [(0, 0, 191, 191), (193, 0, 384, 191), (0, 193, 191, 384), (193, 193, 384, 384)]


def test_view_surrounds_the_motion_and_keeps_the_frame_shape() -> None:
    region = (470.0, 240.0, 564.0, 288.0)
    x0, y0, x1, y1 = view_for(W, H, region, 191, 191)
    assert x0 <= 470 and y0 <= 240 and x1 >= 564 and y1 >= 288  # the motion is inside
    assert (x1 - x0) < W and (y1 - y0) < H and abs((x1 - x0) / (y1 - y0) - W / H) < 0.02
    assert (x1 - x0) >= 191 and (y1 - y0) >= 191  # never enlarged past the source
    assert x0 >= 0 and x1 <= W and y0 >= 0 and y1 <= H


def test_view_limits_minimum_share_whole_frame_and_no_motion() -> None:
    tiny = view_for(1920, 1080, (1000.0, 500.0, 1010.0, 520.0), 100, 100, CropRule(min_share=0.3))
    assert tiny[2] - tiny[0] == round(0.3 * 1920) and tiny[3] - tiny[1] == round(0.3 * 1080)
    assert view_for(W, H, (10.0, 10.0, 600.0, 300.0), 191, 191) == (0, 0, W, H)  # motion covers most of it
    assert view_for(W, H, None, 191, 191) == (0, 0, W, H)


def test_compose_writes_each_time_in_its_tile_corner() -> None:
    frames = [Keyframe(65.0 + i, np.full((H, W, 3), 120, np.uint8)) for i in range(4)]
    image, zoomed = compose(frames, (384, 384))
    assert image.shape == (384, 384, 3) and not zoomed
    corner, middle = image[4:18, 4:40], image[100:120, 100:120]
    assert (corner == 0).any() and (corner == 255).any() and (middle == 120).all()  # white text on black
    assert (image[191:193, :] == 255).all() and (image[:, 191:193] == 255).all()  # separators


def test_layout_defaults_to_a_storyboard_on_the_cpu_only() -> None:
    assert resolve_layout("auto", "cpu") == "storyboard"
    assert resolve_layout("auto", "cuda:0") == "frames" and resolve_layout("auto", "remote") == "frames"
    assert resolve_layout("frames", "cpu") == "frames" and resolve_layout("storyboard", "cuda") == "storyboard"
    assert native_size(FakeBackend(image_size=512)) == (512, 512) and native_size(FakeBackend()) == DEFAULT_SIZE


# ------------------------------------------------------------------------------ whole analysis, fake


def _run(clip: Path, tmp_path: Path, **settings: Any) -> tuple[dict, FakeBackend, FakeBackend]:
    vlm = FakeBackend("vlm", default="A person in red paces near the fence.", image_size=384)
    grounder = FakeBackend("kosmos")
    session = fake_session(tmp_path, describer=vlm, grounder=grounder)
    base = Settings(profile="full", device="cpu", out_dir=tmp_path / "out", formats=["json"], resume=False, scan=PIXELS)
    result = analyze(clip, base.model_copy(update=settings), models=session)
    return json.loads((result.folder / "report.json").read_text()), vlm, grounder


def test_default_on_the_cpu_sends_one_storyboard_per_chunk_zoomed_on_the_motion(
    corner_clip: Path, tmp_path: Path
) -> None:
    report, vlm, grounder = _run(corner_clip, tmp_path)
    calls = [c for c in vlm.history if c.method == "generate_batch"]
    chunks = sum(c.prompt.count("storyboard of") for c in calls)
    pictures = [p for c in calls for p in c.pictures]
    assert chunks >= 1 and len(pictures) == chunks  # one image per chunk
    assert all(p.shape == (384, 384, 3) for p in pictures)  # at the describer's own input size
    assert "left to right, top to bottom" in calls[0].prompt and "where movement was seen" in calls[0].prompt
    stats = report["stats"]
    assert stats["describe_layout"] == "storyboard" and stats["vlm_images"] == chunks
    assert stats["frames_to_vlm"] == 4 * chunks
    # each tile shows the figure, bigger than the whole frame squeezed into a tile would show it
    assert grounder.history
    whole_frame_share = max(red_mask(c.pictures[0]).mean() for c in grounder.history)
    assert whole_frame_share > 0
    for picture in pictures:
        for x0, y0, x1, y1 in cells((384, 384), 2, 2, 2):
            share = red_mask(picture[y0:y1, x0:x1]).mean()
            assert share > 2 * whole_frame_share, share
    # the evidence stays full size: the grounder sees whole keyframes
    assert all(c.pictures[0].shape == (H, W, 3) for c in grounder.history)


def test_layout_frames_sends_each_keyframe_whole(corner_clip: Path, tmp_path: Path) -> None:
    report, vlm, _ = _run(corner_clip, tmp_path, describe=Settings().describe.model_copy(update={"layout": "frames"}))
    pictures = [p for c in vlm.history if c.method == "generate_batch" for p in c.pictures]
    stats = report["stats"]
    assert stats["describe_layout"] == "frames" and stats["vlm_images"] == len(pictures) == stats["frames_to_vlm"]
    assert len(pictures) == 4 * sum(c.prompt.count("These 4 frames") for c in vlm.history)
    assert pictures and all(p.shape == (H, W, 3) for p in pictures)


def test_layout_flag_and_setting_reach_the_settings(tmp_path: Path) -> None:
    from veille.cli import _settings
    from veille.settings import load_settings

    assert _settings(None, {"layout": "frames"}).describe.layout == "frames"
    assert _settings(None, {"layout": None}).describe.layout == "auto"
    toml = tmp_path / "veille.toml"
    toml.write_text('[describe]\nlayout = "storyboard"\n')
    assert load_settings(config=toml, env={}).describe.layout == "storyboard"
    assert load_settings(env={"describe__layout": "frames"}, search_dir=tmp_path / "none").describe.layout == "frames"


# ------------------------------------------------------------------- whole `veille analyze`, tiny model


class Received:
    """The real backend factory; the describer keeps every request it is given and their token counts."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, list[np.ndarray]]] = []
        self.tokens: list[tuple[int, int]] = []

    def factory(self, role: str, path: Path, options: Any, **kwargs: Any) -> Any:
        from veille.backends.factory import create_backend

        backend = create_backend(role, path, options, **kwargs)
        if role == "describer":
            generate = backend.generate_batch

            def keep(requests: Any, **kw: Any) -> list[str]:
                self.requests += [(p, list(images)) for p, images in requests]
                self.tokens += backend.token_counts(requests)
                return generate(requests, **kw)

            backend.generate_batch = keep
        return backend


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["auto", "frames"])
def test_veille_analyze_gives_the_tiny_idefics3_a_storyboard(
    layout: str,
    corner_clip: Path,
    tiny_models: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    received = Received()
    monkeypatch.setattr(manager, "_default_factory", received.factory)
    out, config = tmp_path / "out", tmp_path / "veille.toml"
    config.write_text('[scan]\nmode = "pixels"\n')
    argv = ["analyze", str(corner_clip), "--profile", "default", "--vlm", str(tiny_models["idefics3"])]
    argv += ["--llm", "none", "--device", "cpu", "--out", str(out), "--quiet", "--layout", layout]
    argv += ["--config", str(config)]
    code, _, err = in_process(capsys, argv)
    assert code == 0, err
    stats = json.loads((out / "corner" / "report.json").read_text())["stats"]
    chunks = len(received.requests)
    assert chunks >= 1 and stats["vlm_images"] == sum(len(images) for _, images in received.requests)
    per_chunk = {len(images) for _, images in received.requests}
    image_tokens = {tokens for tokens, _ in received.tokens}
    if layout == "auto":  # the CPU default
        assert stats["describe_layout"] == "storyboard" and per_chunk == {1}
        assert all(images[0].shape == (32, 32, 3) for _, images in received.requests)  # the tiny model's input
        assert image_tokens == {4}  # one image's tokens per chunk (the tiny processor's 4 per image)
    else:
        assert stats["describe_layout"] == "frames" and per_chunk == {4}
        assert all(image.shape == (H, W, 3) for _, images in received.requests for image in images)
        assert image_tokens == {16}


def test_report_schema_has_the_layout_fields_as_optional() -> None:
    from veille.report.schema import Stats, json_schema

    stats = json_schema()["$defs"]["Stats"]
    assert {"describe_layout", "vlm_images"} <= set(stats["properties"])
    assert not {"describe_layout", "vlm_images"} & set(stats.get("required", []))
    older = Stats.model_validate({"frames_to_vlm": 8, "vlm_calls": 2})  # a report written before them
    assert older.describe_layout is None and older.vlm_images == 0
