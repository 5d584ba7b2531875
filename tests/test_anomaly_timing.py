"""How long movement lasts and when it happens, on synthetic clips with known stays and start times.

The usual traffic (see :mod:`tests.anomaly_clips`): small boxes pass along the top lane, each window
crossed in about three seconds; big ones along the bottom lane.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.anomaly_clips import BOTTOM, TOP, Loiter, Mover, usual, write_clip
from veille.anomaly import calibrate as calibration
from veille.anomaly import clock
from veille.anomaly.analysis import _gaps
from veille.anomaly.calibrate import calibrate, learn, new_profile
from veille.anomaly.commands import cameras_show
from veille.anomaly.evaluate import calibrate_on
from veille.anomaly.model import NormalModel
from veille.anomaly.profile import from_file
from veille.anomaly.reasons import explain
from veille.anomaly.score import AnomalyCurve, score_video
from veille.anomaly.store import CameraStore
from veille.anomaly.timing import Runs, frames_per_hour
from veille.video.probe import probe

OTHERS = [Mover(BOTTOM, 24, 30, 1.5, 100, 12)]  # the usual near traffic, in every test clip
STAYS = Loiter(TOP, 8, 10, 70, seed=21)  # a small box shifting on the spot in the top lane, the whole clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timing-clips")
    passing = [Mover(TOP, 8, 10, 1.5, 30, 11), *OTHERS]
    out = {
        "passing": write_clip(folder / "passing.mp4", usual(), 60),
        "lingering": write_clip(folder / "lingering.mp4", [*usual(), Loiter(TOP, 8, 10, 70, stay=200, cycle=250)], 90),
        "loiter": write_clip(folder / "loiter.mp4", [STAYS, *OTHERS], 20, seed=5),
        "elsewhere": write_clip(folder / "elsewhere.mp4", [Loiter(TOP, 8, 10, 130, seed=21), *OTHERS], 20, seed=5),
        "usual": write_clip(folder / "usual.mp4", passing, 20, seed=5),
    }
    days = folder / "days"
    days.mkdir()
    out["10h"] = write_clip(days / "cam_20240131_100000.mp4", usual(), 40, seed=1)
    out["14h"] = write_clip(days / "cam_20240131_140000.mp4", usual(), 40, seed=2)
    out["3h"] = write_clip(days / "cam_20240131_030000.mp4", usual()[2:], 180, seed=3)  # at night only the near lane
    out["at 3h"] = write_clip(folder / "cam_20240201_031000.mp4", passing, 20, seed=6)
    out["at 14h"] = shutil.copy(out["at 3h"], folder / "cam_20240201_141000.mp4")
    return out


def _curve(clips, name: str, profile) -> AnomalyCurve:
    return score_video(probe(clips[name]), profile)


@pytest.fixture(scope="module")
def passing(clips):
    return calibrate_on("passing", [clips["passing"]]).profile


def test_a_long_stay_where_things_usually_pass_quickly_scores_higher(clips, passing) -> None:
    threshold = passing.meta.normal_scores["p99"]
    stay, usual_curve = _curve(clips, "loiter", passing), _curve(clips, "usual", passing)
    assert max(usual_curve.scores) < threshold + 0.3
    assert max(stay.scores) > threshold + 0.8
    assert max(stay.scores) > max(usual_curve.scores) + 0.8
    early = [s for t, s in zip(stay.times, stay.scores, strict=True) if t < 3.0]
    assert max(early) < threshold + 0.3  # unusual only once it has lasted longer than a passer takes
    verdict = explain(stay, 0.0, 20.0)
    assert verdict.unusual and re.search(r"movement lasting about \d+× longer than usual here \(top", verdict.reason)
    assert "plus longtemps que d'habitude ici" in explain(stay, 0.0, 20.0, lang="fr").reason


def test_the_same_stay_where_lingering_is_usual_is_not_unusual(clips, passing) -> None:
    """Calibrated on footage where a box stays at that spot of the top lane for 20 s at a time, the
    stay there is usual; the same stay further along the lane, where things only pass, is not."""
    lingering = calibrate_on("lingering", [clips["lingering"]]).profile
    threshold = lingering.meta.normal_scores["p99"]
    stay, elsewhere = _curve(clips, "loiter", lingering), _curve(clips, "elsewhere", lingering)
    assert max(stay.scores) < threshold + 0.3
    assert max(stay.scores) < max(_curve(clips, "loiter", passing).scores) - 0.8
    assert not explain(stay, 0.0, 20.0).unusual
    assert max(elsewhere.scores) > threshold + 0.8
    assert "longer than usual here (top right" in explain(elsewhere, 0.0, 20.0).reason


@pytest.fixture(scope="module")
def timed(clips, tmp_path_factory: pytest.TempPathFactory) -> CameraStore:
    store = CameraStore(tmp_path_factory.mktemp("timed") / "cameras")
    calibrate([clips["10h"], clips["14h"], clips["3h"]], "walk", store)
    calibrate([clips["10h"], clips["3h"]], "two-hours", store)
    return store


def test_movement_at_an_hour_when_the_place_is_usually_quiet_scores_higher(clips, timed) -> None:
    profile = timed.load("walk")
    threshold = profile.meta.normal_scores["p99"]
    night, day = _curve(clips, "at 3h", profile), _curve(clips, "at 14h", profile)
    assert night.clock == day.clock == "file name"
    assert max(day.scores) < threshold + 0.3
    assert max(night.scores) > threshold + 0.5
    assert max(night.scores) > max(day.scores) + 0.5
    verdict = explain(night, 0.0, 20.0)
    assert verdict.unusual and "movement at an hour when this place is usually quiet" in verdict.reason
    assert not explain(day, 0.0, 20.0).unusual
    shown = "\n".join(cameras_show(timed, "walk"))
    hours = "03:00-04:00, 10:00-11:00, 14:00-15:00; times from file name"
    assert f"time of day: learned for 3 hours of the day ({hours})" in shown
    assert re.search(r"how long movement lasts: usually \d+\.\d s", shown)


def test_footage_from_too_few_hours_falls_back_to_all_day_statistics(clips, timed) -> None:
    profile = timed.load("two-hours")
    night, day = _curve(clips, "at 3h", profile), _curve(clips, "at 14h", profile)
    assert night.clock == "" and night.scores == day.scores
    shown = "\n".join(cameras_show(timed, "two-hours"))
    assert "time of day: not used (the footage with known times covers 2 hour(s) of the day, 3 are needed" in shown
    assert "the all-day statistics are used" in shown


def test_unknown_times_fall_back_and_say_so(clips, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(calibration, "start_time", lambda path, duration_s: None)
    store = CameraStore(tmp_path / "cameras")
    calibrate([clips["10h"], clips["14h"], clips["3h"]], "walk", store)
    profile = store.load("walk")
    assert not profile.hour_frames.any() and all(s.start == "" for s in profile.meta.sources)
    assert _curve(clips, "at 3h", profile).scores == _curve(clips, "at 14h", profile).scores
    assert "time of day: not used (the footage's times are unknown)" in "\n".join(cameras_show(store, "walk"))


def test_start_time_from_name_then_metadata_then_file_time(tmp_path: Path, monkeypatch) -> None:
    assert clock.from_name("cam1_20240131_142530") == datetime(2024, 1, 31, 14, 25, 30)
    assert clock.from_name("2024-01-31T14-25-30") == datetime(2024, 1, 31, 14, 25, 30)
    assert clock.from_name("ch01_20240131142530_20240131143000") == datetime(2024, 1, 31, 14, 25, 30)  # the start
    assert clock.from_name("Train001") is None and clock.from_name("x_20241399_999999") is None
    assert clock.from_name("120240131_142530") is None  # part of a longer number
    assert clock.from_metadata("1904-01-01T00:00:00.000000Z") is None and clock.from_metadata("soon") is None
    utc = clock.from_metadata("2024-01-31T14:25:30.000000Z")
    assert utc == datetime(2024, 1, 31, 14, 25, 30).replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    stamp = datetime(2024, 5, 6, 7, 8, 9).timestamp()
    os.utime(video, (stamp, stamp))
    assert clock.start_time(video, 60.0) == clock.StartTime(datetime(2024, 5, 6, 7, 7, 9), clock.FILE_TIME)
    monkeypatch.setattr(clock, "_creation_time", lambda path: "2024-01-31T14:25:30")
    assert clock.start_time(video, 60.0) == clock.StartTime(datetime(2024, 1, 31, 14, 25, 30), clock.METADATA)
    named = tmp_path / "cam_20230101_235959.mp4"
    named.write_bytes(b"x")
    assert clock.start_time(named, 60.0) == clock.StartTime(datetime(2023, 1, 1, 23, 59, 59), clock.FILE_NAME)


def test_runs_go_on_through_short_pauses_and_next_door() -> None:
    runs = Runs((1, 4), 0.2)
    still, here, next_door = np.zeros((1, 4), bool), np.array([[True, False, False, False]]), np.zeros((1, 4), bool)
    next_door[0, 1] = True
    lasting, ended = runs.update(here, 0.0, ended=True)
    assert lasting[0, 0] == pytest.approx(0.2) and np.isnan(ended).all()
    runs.update(still, 0.5)  # a pause shorter than GAP_S
    runs.update(next_door, 0.9)  # the mover shifted into the next window
    lasting, _ = runs.update(here, 1.6)
    assert lasting[0, 0] == pytest.approx(1.8)
    _, ended = runs.update(still, 3.0, ended=True)  # still for longer than GAP_S: the run is over
    assert ended[0, 0] == pytest.approx(1.8) and np.isnan(ended[0, 3])
    lasting, _ = runs.update(here, 3.2)
    assert lasting[0, 0] == pytest.approx(0.2)
    assert runs.close()[0, 0] == pytest.approx(0.2)


def test_quiet_stretches_count_in_their_hours(clips, tmp_path: Path) -> None:
    """``--camera self`` learns only the stretches with activity; the quiet ones count in their hours."""
    assert np.allclose(frames_per_hour(3600 * 23 + 3590, [(0.0, 20.0)], 0.2)[[23, 0]], [50, 50])
    assert _gaps([(5.0, 8.0), (2.0, 3.0)], 10.0) == [(0.0, 2.0), (3.0, 5.0), (8.0, 10.0)]
    video = shutil.copy(clips["usual"], tmp_path / "gate_20240131_235950.mp4")
    info = probe(video)
    profile = new_profile("self", info)
    learn(profile, [(info, [(0.0, 10.0)])], quiet_s=10.0, quiet_spans=[(10.0, 20.0)])
    assert profile.hour_frames[23] == pytest.approx(49, abs=2)  # analysed, 23:59:50 to midnight
    assert profile.hour_frames[0] == pytest.approx(50)  # quiet, after midnight


def test_a_profile_of_format_1_is_read_and_says_what_it_lacks(clips, tmp_path: Path) -> None:
    store = CameraStore(tmp_path / "cameras")
    calibrate([clips["passing"]], "gate", store)
    path = store.path("gate")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if key not in ("duration", "hour_frames", "hour_active")}
    meta = json.loads(arrays["meta"].tobytes())
    for source in meta["sources"]:
        del source["start"], source["start_from"]
    arrays["meta"] = np.frombuffer(json.dumps({**meta, "format": 1}).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    old = from_file(path)
    assert old.meta.format == 1 and not old.knows_time and not old.duration.any()
    assert NormalModel(old).duration_q is None and NormalModel(old).quiet is None
    assert max(_curve(clips, "loiter", old).longer) == 0.0
    shown = "\n".join(cameras_show(store, "gate"))
    assert "how long movement lasts, time of day: not learned (profile format 1, from an older veille)" in shown
    assert "veille cameras remove gate" in shown
    calibrate([clips["lingering"]], "gate", store)  # more footage: saved in the current format
    again = store.load("gate")
    assert again.knows_time and again.duration.any() and again.meta.frames > old.meta.frames

