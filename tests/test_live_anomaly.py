"""Live events scored against the camera's calibrated profile (``[cameras.NAME] calibration``), and the
``min_anomaly`` rule applied once the score is known."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.anomaly_clips import FPS, MIDDLE, Mover, draw_movers, usual, write_clip
from tests.live_servers import RtspServer, free_port, require_servers
from veille.anomaly.calibrate import calibrate
from veille.anomaly.store import CameraStore
from veille.live.alerts import AlertGate
from veille.live.config import resolve_cameras
from veille.live.watch import Watch
from veille.settings import AlertRules, Settings
from veille.video.synth import Stretch, scene, write_video


def test_scored_camera_holds_started_until_the_score_is_known() -> None:
    gate = AlertGate(AlertRules(cooldown_s=0, min_anomaly=1.5), scored=True, clock=lambda: 1000.0)
    assert not gate.allow("started", 1, 0, None)  # no score yet: held
    assert gate.allow("ended", 1, 0, 2.0)  # unusual once scored: alerted at its end
    assert not gate.allow("started", 2, 0, None) and not gate.allow("ended", 2, 0, 1.0)  # usual: never
    unscored = AlertGate(AlertRules(cooldown_s=0, min_anomaly=1.5), clock=lambda: 1000.0)
    assert unscored.allow("started", 3, 0, None)  # a camera without a profile is not filtered by score


def _scored(out: Path) -> bool:
    reports = list(out.glob("lane/*/report.json"))
    try:
        return bool(reports) and any("anomaly_score" in e for e in json.loads(reports[0].read_text())["events"])
    except ValueError:  # being replaced
        return False


@pytest.mark.slow
def test_unusual_live_event_gets_its_anomaly_score(tmp_path: Path) -> None:
    require_servers()
    cameras_dir = tmp_path / "cameras"
    profile = calibrate([write_clip(tmp_path / "usual.mp4", usual(), 60)], "street", CameraStore(cameras_dir)).profile
    threshold = profile.meta.normal_scores["p99"]
    background = scene(160, 120)
    odd = draw_movers(background, [Mover(MIDDLE, 24, 30, 3.0, 0, 9)])  # big and in the lane where nothing moves
    clip = tmp_path / "odd.mp4"
    write_video(clip, [Stretch(5 * FPS), Stretch(6 * FPS, odd, True), Stretch(10 * FPS)], background, fps=FPS)
    with RtspServer(clip, free_port()) as server:
        settings = Settings(
            profile="motion", out_dir=tmp_path / "out", cameras_dir=cameras_dir, watch={"quiet_s": 2.0},
            cameras={"lane": {"url": server.url(), "calibration": "street"}},
        )
        watch = Watch(resolve_cameras((), settings), settings, say=lambda m: None)
        watch.start()
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and not _scored(tmp_path / "out"):  # the event has ended
                time.sleep(0.2)
        finally:
            watch.close()
    [report] = (tmp_path / "out" / "lane").glob("*/report.json")
    event = json.loads(report.read_text())["events"][0]
    assert event["anomaly_score"] > threshold and event["anomaly_reason"]
