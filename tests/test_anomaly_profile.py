"""Camera profiles: saving, loading, versioning, damage, merging more footage, where they live."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.anomaly_clips import Mover, usual, write_clip
from veille.anomaly import calibrate as calibration
from veille.anomaly import profile as profile_module
from veille.anomaly.calibrate import Accumulator, calibrate, new_profile
from veille.anomaly.features import FrameObs
from veille.anomaly.model import NormalModel
from veille.anomaly.profile import PROFILE_FORMAT, from_file, to_bytes
from veille.anomaly.store import CameraStore, default_cameras_dir
from veille.errors import CameraProfileError
from veille.video.probe import probe


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("profile-footage")
    return {
        "a": write_clip(folder / "a.mp4", usual(), 20, seed=1),
        "b": write_clip(folder / "b.mp4", usual(), 20, seed=2),
        "c": write_clip(folder / "c.mp4", [Mover(12, 8, 10, 1.5, 50, 9)], 12, seed=3),
    }


@pytest.fixture
def store(tmp_path: Path) -> CameraStore:
    return CameraStore(tmp_path / "cameras")


def _saved(store: CameraStore, footage) -> Path:
    result = calibrate([footage["a"], footage["b"]], "gate", store)
    assert result.path == store.path("gate") and result.path.is_file()
    return result.path


def test_save_and_load_keep_everything(store, footage) -> None:
    path = _saved(store, footage)
    first = from_file(path)
    again = from_file(path)
    assert again.meta == first.meta
    for key in ("active", "energy", "speed", "size", "sample"):
        assert np.array_equal(getattr(again, key), getattr(first, key))
    meta = first.meta
    assert (meta.width, meta.height, meta.format) == (160, 120, PROFILE_FORMAT)
    assert [Path(s.path).name for s in meta.sources] == ["a.mp4", "b.mp4"]
    assert meta.frames == sum(s.frames for s in meta.sources) > 150
    assert first.active.sum() > 0 and first.energy.sum() == first.active.sum()
    assert set(meta.normal_scores) == {"p50", "p90", "p99"}
    assert store.names() == ["gate"]


def test_more_footage_updates_the_profile_and_known_footage_is_skipped(store, footage) -> None:
    calibrate([footage["a"]], "gate", store, min_seconds=10)
    once = store.load("gate")
    result = calibrate([footage["a"], footage["b"]], "gate", store)
    twice = store.load("gate")
    assert result.skipped == [footage["a"]] and result.added == [footage["b"]]
    assert twice.meta.frames > once.meta.frames and len(twice.meta.sources) == 2
    assert np.all(twice.active >= once.active) and twice.active.sum() > once.active.sum()
    assert twice.meta.created_at == once.meta.created_at
    unchanged = calibrate([footage["b"]], "gate", store)
    assert unchanged.added == [] and store.load("gate").meta.frames == twice.meta.frames


def test_newer_profile_format_is_a_clear_error(store, footage) -> None:
    path = _saved(store, footage)
    profile = from_file(path)
    profile.meta.format = PROFILE_FORMAT + 1
    path.write_bytes(to_bytes(profile))
    with pytest.raises(CameraProfileError, match=r"newer veille \(profile format 2; this one reads format 1\)"):
        store.load("gate")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "no_meta", "bad_meta", "bad_shape", "pickle", "nan"])
def test_damaged_profile_is_a_clear_error(store, footage, damage: str) -> None:
    path = _saved(store, footage)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a profile at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        if damage == "no_meta":
            del arrays["meta"]
        elif damage == "bad_meta":
            arrays["meta"] = np.frombuffer(json.dumps({"format": 1, "name": 3}).encode(), np.uint8)
        elif damage == "bad_shape":
            arrays["energy"] = arrays["energy"][:, :, :7]
        elif damage == "pickle":
            arrays["active"] = np.array([{"x": 1}], dtype=object)
        elif damage == "nan":
            arrays["speed"] = arrays["speed"] * np.nan
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
    with pytest.raises(CameraProfileError, match=r"camera profile 'gate'.*damaged.*calibrate it again"):
        store.load("gate")


def test_profile_file_holds_no_pickle(store, footage) -> None:
    with zipfile.ZipFile(_saved(store, footage)) as archive:
        for name in archive.namelist():
            header = archive.read(name)[:128]
            assert b"'descr': '|O'" not in header and b"pickle" not in header


def test_unknown_camera_lists_the_known_ones(store, footage) -> None:
    _saved(store, footage)
    with pytest.raises(CameraProfileError, match=r"no camera named 'yard'.*\(known: gate\).*--camera yard"):
        store.load("yard")
    with pytest.raises(CameraProfileError, match="known: none yet"):
        CameraStore(store.folder / "empty").load("yard")


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "self", "x" * 65])
def test_bad_camera_names(store, name: str) -> None:
    with pytest.raises(CameraProfileError):
        store.path(name)


def test_footage_of_another_size_names_both(store, footage, tmp_path: Path) -> None:
    _saved(store, footage)
    small = tmp_path / "small.mp4"
    from veille.video.synth import Stretch, scene, write_video

    write_video(small, [Stretch(400)], scene(128, 96))
    before = store.path("gate").read_bytes()
    with pytest.raises(CameraProfileError, match=r"small.mp4 is 128x96 but camera 'gate' was calibrated on 160x120"):
        calibrate([small], "gate", store)
    assert store.path("gate").read_bytes() == before


def test_too_little_footage_says_how_much_is_needed(store, footage) -> None:
    with pytest.raises(CameraProfileError, match=r"too little footage.*12\.0 s.*at least 30 s"):
        calibrate([footage["c"]], "short", store)
    assert not store.exists("short")


def test_memory_stays_flat_however_long_the_footage(monkeypatch: pytest.MonkeyPatch, footage) -> None:
    """The only thing that could grow with the footage, the sample of frames, stays at its size."""
    monkeypatch.setattr(calibration, "SAMPLE_FRAMES", 8)
    monkeypatch.setattr(profile_module, "SAMPLE_FRAMES", 8)
    profile = new_profile("x", probe(footage["a"]))
    acc = Accumulator(profile)
    grid = profile.grid
    for i in range(200):
        share = np.full(grid, 0.5 if i % 2 else 0.0, np.float32)
        energy = share * 0.01 * (1 + i)
        acc.add(FrameObs(i / 5, share, energy / np.maximum(share, 1e-6), energy, share * 0.01, np.zeros((1, 1))))
    assert len(acc.sample) == 8
    assert profile.active.max() == 100 and profile.energy.sum() == 100 * grid[0] * grid[1]
    latest = max(float(f.max()) for f in acc.sample)
    assert latest > 0.005 * 100  # a random sample of the whole stream, not just its start


def test_default_folder_follows_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_cameras_dir() == tmp_path / "xdg" / "veille" / "cameras"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cameras_dir() == tmp_path / "home" / ".local" / "share" / "veille" / "cameras"
    monkeypatch.setattr("sys.platform", "darwin")
    assert default_cameras_dir() == tmp_path / "home" / "Library" / "Application Support" / "veille" / "cameras"
    assert CameraStore().folder == default_cameras_dir()


def test_quiet_footage_changes_neither_threshold_nor_rarity(footage) -> None:
    """The camera's "usual up to" and how rarely each place moves come from frames with movement:
    hours of nothing do not change them."""
    from veille.anomaly.calibrate import learn

    info = probe(footage["a"])
    busy, quiet = new_profile("busy", info), new_profile("quiet", info)
    learn(busy, [(info, None)])
    learn(quiet, [(info, None)], quiet_s=600)
    assert quiet.meta.frames == busy.meta.frames + 3000 and quiet.meta.seconds == pytest.approx(busy.meta.seconds + 600)
    assert quiet.meta.normal_scores["p99"] == pytest.approx(busy.meta.normal_scores["p99"], abs=0.25)
    assert quiet.meta.normal_scores["p99"] > 0.5
    assert quiet.meta.moving_frames == busy.meta.moving_frames > 0
    assert np.allclose(NormalModel(quiet).rarity, NormalModel(busy).rarity)  # nor make every place rare
