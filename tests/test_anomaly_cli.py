"""``veille calibrate``, ``veille cameras …`` and ``veille eval anomaly`` through the real CLI entry point."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.anomaly_clips import FPS, TOP, Mover, draw_movers, usual, write_clip
from tests.cli_run import in_process
from veille.anomaly.profile import PROFILE_FORMAT, from_file, to_bytes
from veille.video.synth import Stretch, scene, write_video


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-footage")
    return {
        "day1": write_clip(folder / "day1.mp4", usual(), 20, seed=1),
        "day2": write_clip(folder / "day2.mp4", usual(), 20, seed=2),
        "short": write_clip(folder / "short.mp4", usual(), 8, seed=3),
    }


@pytest.fixture
def veille(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: (exit code, stdout, stderr); never a traceback."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        return in_process(capsys, [str(a) for a in args])

    return run


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("veille: error: "), err
    return lines[0]


def test_calibrate_list_show_remove(veille, footage, tmp_path: Path) -> None:
    cams = tmp_path / "cams"
    code, out, _ = veille("calibrate", footage["day1"], footage["day2"], "--camera", "gate", "--cameras-dir", cams)
    assert code == 0 and "camera 'gate': learned 40 s from 2 video(s)" in out and str(cams / "gate.npz") in out
    assert "it now knows" not in out
    code, out, _ = veille("calibrate", footage["day2"], "--camera", "gate", "--cameras-dir", cams)
    assert code == 0 and "already learned" in out and "nothing new" in out
    code, out, _ = veille("cameras", "list", "--cameras-dir", cams)
    assert code == 0 and re.search(r"gate\s+160x120\s+0\.7 min\s+2", out)
    code, out, _ = veille("cameras", "list", "--cameras-dir", cams, "--json")
    assert json.loads(out)["cameras"][0]["name"] == "gate"
    code, out, _ = veille("cameras", "show", "gate", "--cameras-dir", cams)
    assert code == 0 and "picture: 160x120" in out and "day1.mp4" in out and "scores of normal frames: p50" in out
    code, out, _ = veille("cameras", "remove", "gate", "--cameras-dir", cams)
    assert code == 0 and "removed camera 'gate'" in out and not (cams / "gate.npz").exists()
    code, out, _ = veille("cameras", "list", "--cameras-dir", cams)
    assert "no cameras yet" in out


def test_cameras_dir_from_the_settings_file(veille, footage, tmp_path: Path) -> None:
    (tmp_path / "veille.toml").write_text(f'cameras_dir = "{tmp_path / "from-settings"}"\n')
    code, _, _ = veille("calibrate", footage["day1"], footage["day2"], "--camera", "gate")
    assert code == 0 and (tmp_path / "from-settings" / "gate.npz").is_file()


def test_unknown_camera_lists_the_known_ones(veille, footage, tmp_path: Path) -> None:
    cams = tmp_path / "cams"
    veille("calibrate", footage["day1"], footage["day2"], "--camera", "gate", "--cameras-dir", cams)
    for command in (["cameras", "show", "yard"], ["cameras", "remove", "yard"]):
        code, _, err = veille(*command, "--cameras-dir", cams)
        assert code == 2 and "no camera named 'yard'" in _one_error(err) and "(known: gate)" in err


@pytest.mark.parametrize("damage", ["damaged", "newer"])
def test_damaged_or_newer_profile_is_one_line(veille, footage, tmp_path: Path, damage: str) -> None:
    cams = tmp_path / "cams"
    veille("calibrate", footage["day1"], footage["day2"], "--camera", "gate", "--cameras-dir", cams)
    path = cams / "gate.npz"
    if damage == "damaged":
        path.write_bytes(path.read_bytes()[:300])
    else:
        profile = from_file(path)
        profile.meta.format = PROFILE_FORMAT + 3
        path.write_bytes(to_bytes(profile))
    for command in (["cameras", "show", "gate"], ["calibrate", footage["short"], "--camera", "gate"]):
        code, _, err = veille(*command, "--cameras-dir", cams)
        line = _one_error(err)
        assert code == 2 and ("damaged" in line if damage == "damaged" else "newer veille" in line)
    code, out, _ = veille("cameras", "list", "--cameras-dir", cams)
    assert code == 0 and re.search(r"gate\s+unreadable: camera profile 'gate'", out)


def test_bad_calibration_inputs_are_one_line(veille, footage, tmp_path: Path) -> None:
    cams = tmp_path / "cams"
    code, _, err = veille("calibrate", footage["short"], "--camera", "gate", "--cameras-dir", cams)
    assert code == 2 and "needs at least 30 s" in _one_error(err) and "8.0 s" in err
    code, _, err = veille("calibrate", footage["day1"], "--camera", "../etc", "--cameras-dir", cams)
    assert code == 2 and "cannot name a camera" in _one_error(err)
    code, _, err = veille("calibrate", tmp_path / "nowhere.mp4", "--camera", "gate", "--cameras-dir", cams)
    assert code == 1 and "does not exist" in _one_error(err)
    other = tmp_path / "other.mp4"
    write_video(other, [Stretch(50)], scene(192, 108))
    veille("calibrate", footage["day1"], footage["day2"], "--camera", "gate", "--cameras-dir", cams)
    code, _, err = veille("calibrate", other, "--camera", "gate", "--cameras-dir", cams)
    assert code == 2 and "is 192x108 but camera 'gate' was calibrated on 160x120" in _one_error(err)
    assert not list(cams.glob(".*tmp"))


def _mini_ucsd(root: Path) -> Path:
    """``ucsd_ped2`` in miniature: two normal training clips, one test clip whose second half holds a
    fast box in the far lane, and its frame labels."""
    folder = root / "ucsd_ped2"
    (folder / "train").mkdir(parents=True)
    for i in (1, 2):
        write_clip(folder / "train" / f"Train00{i}.mp4", usual(), 20, seed=i)
    background = scene(160, 120)
    plain = draw_movers(background, usual())
    odd = draw_movers(background, [*usual(), Mover(TOP + 10, 8, 10, 3.0, 0, 9)])
    write_video(folder / "Test001.mp4", [Stretch(60, plain), Stretch(60, odd, True)], background, fps=FPS)
    labels = "0" * 60 + "1" * 60
    truth = {"clips": {"Test001": {"frame_labels": labels, "num_frames": 120}}}
    (folder / "ground_truth.json").write_text(json.dumps(truth))
    return root


def test_eval_anomaly_on_a_miniature_dataset(veille, tmp_path: Path) -> None:
    code, out, _ = veille("eval", "anomaly", "--data", _mini_ucsd(tmp_path / "data"))
    assert code == 0, out
    row = re.search(r"ucsd_ped2\s+1\s+120\s+60\s+([\d.]+)\s+([\d.]+)", out)
    assert row and float(row.group(1)) >= 0.9, out
    assert "calibration 40 s of footage" in out and "scoring 12 s" in out
    code, _, err = veille("eval", "anomaly", "--data", tmp_path / "empty")
    assert code == 1 and "is not a folder" in _one_error(err)
