"""``veille watch`` against a real RTSP server (GStreamer) and a real MQTT broker (Mosquitto) on 127.0.0.1.

The clip is the 30-s sample (one person crossing from 5 s to 12 s), served from its start to each new
client. Without the system packages these tests fail, unless VEILLE_SKIP_LIVE=1 is set.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from pathlib import Path

import av
import pytest

from tests.live_servers import (
    HookSink,
    Mosquitto,
    RtspServer,
    Subscriber,
    free_port,
    require_servers,
    watch_command,
    watch_env,
)
from veille.archive.store import Store

pytestmark = pytest.mark.slow
SECRETS = ("s3cret-cam", "hunter2", "mqtt-pw", "hook-pw")


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    """SIGTERM, then what the process printed (it must exit by itself)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"veille watch did not stop on SIGTERM: {err[-2000:]}") from None


def _day_report(out: Path, camera: str) -> tuple[Path, dict]:
    [path] = sorted((out / camera).glob("*/report.json"))
    return path.parent, json.loads(path.read_text())


def _clip_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1e6


def _indexed(out: Path) -> list[tuple[str, int, str]]:
    with Store(out / "archive.sqlite") as store:
        return store.conn.execute(
            "SELECT v.folder, e.number, v.camera FROM events e JOIN videos v ON v.id = e.video_id ORDER BY e.number"
        ).fetchall()


def test_watch_alerts_within_two_seconds_records_indexes_and_stops(sample_clip, tmp_path: Path) -> None:
    require_servers()
    clip, truth = sample_clip
    onset, offset = truth["active_intervals"][0]
    out = tmp_path / "out"
    dead = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/nothing"
    with Mosquitto(tmp_path) as broker, RtspServer(clip, free_port(), user="viewer", password="s3cret-cam") as server:
        sub = Subscriber(broker.port)
        proc = subprocess.Popen(
            watch_command(server.url(), dead, "--camera", "test", "--camera", "dead", "--profile", "motion",
                          "--out", str(out), "--mqtt", f"mqtt://bob:mqtt-pw@127.0.0.1:{broker.port}"),
            env=watch_env(VEILLE_WATCH__QUIET_S="2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            started = sub.wait_for(lambda: sub.events("started"), 45)
            ended = sub.wait_for(lambda: sub.events("ended"), 30)
        finally:
            stdout, stderr = _stop(proc)
        sub.wait_for(lambda: sub.statuses("test")[-1:] == ["offline"], 10)
        sub.close()
    assert proc.returncode == 0, stderr
    # the alert: within 2 s of the moment the activity went out in the stream
    latency = started[0][0] - (server.played[0] + onset)
    assert latency <= 2.0, f"started alert {latency:.2f} s after the activity began"
    first, last = started[0][1], ended[0][1]
    [shown] = first["keyframes"]  # the started alert already points at a picture
    assert first["camera"] == "test" and first["id"] == last["id"] and last["source"] == "motion"
    assert len(sub.events("started")) == 1 and len(sub.events("ended")) == 1  # one crossing, one event
    assert abs((last["end_s"] - last["start_s"]) - (offset - onset)) < 2.5
    assert "online" in sub.statuses("test") and sub.statuses("dead")[-1] == "offline"
    # the clip (copied packets) starts before the activity; the report and the index hold the event
    folder, report = _day_report(out, "test")
    [event] = report["events"]
    clip_path = folder / event["clip"]
    # from the keyframe at least pre_s (3 s) before the onset, to quiet_s (2 s) after the last movement
    assert _clip_seconds(clip_path) >= (event["end_s"] - event["start_s"]) + 3.0 + 2.0 - 0.5
    assert event["keyframes"] and all((folder / k["image"]).is_file() for k in event["keyframes"])
    assert (folder / shown["image"]).is_file()
    assert [(row[0].split("/")[0], row[1], row[2]) for row in _indexed(out)] == [("test", event["id"], "test")]
    # the dead camera never stalled the live one, and no secret shows anywhere
    shown = stdout + stderr + json.dumps(report) + json.dumps([e for _, e in sub.events()]) + "".join(sub.statuses())
    assert "dead" in stderr and "127.0.0.1" in stderr
    assert not [s for s in SECRETS if s in shown], stderr


def test_server_killed_mid_event_then_back_nothing_lost(sample_clip, tmp_path: Path) -> None:
    require_servers()
    clip, _ = sample_clip
    out = tmp_path / "out"
    port = free_port()
    with Mosquitto(tmp_path) as broker:
        sub = Subscriber(broker.port)
        server = RtspServer(clip, port).start()
        proc = subprocess.Popen(
            watch_command(server.url(), "--camera", "door", "--out", str(out), "--mqtt", f"mqtt://127.0.0.1:{broker.port}"),
            env=watch_env(
                VEILLE_WATCH__QUIET_S="2", VEILLE_WATCH__RECONNECT_MAX_S="2", VEILLE_WATCH__RULES__COOLDOWN_S="0"
            ),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            sub.wait_for(lambda: sub.events("started"), 45)
            assert sub.wait_for(lambda: _indexed(out), 5)  # in the index as soon as it starts
            server.kill()  # mid-event
            [(_, lost)] = sub.wait_for(lambda: sub.events("ended"), 15)
            sub.wait_for(lambda: sub.statuses("door")[-1:] == ["offline"], 15)
            server = RtspServer(clip, port).start()
            sub.wait_for(lambda: sub.statuses("door")[-1:] == ["online"], 20)
            sub.wait_for(lambda: len(sub.events("ended")) >= 2, 45)  # the activity after the restart
        finally:
            _, stderr = _stop(proc)
            server.kill()
        sub.close()
    assert proc.returncode == 0, stderr
    assert lost["reason"] == "stream lost"
    numbers = [e["id"] for _, e in sub.events("ended")]
    assert len(numbers) == len(set(numbers)) >= 2
    folder, report = _day_report(out, "door")
    assert sorted(e["id"] for e in report["events"]) == sorted(numbers)
    assert all((folder / e["clip"]).is_file() for e in report["events"])
    assert sorted(row[1] for row in _indexed(out)) == sorted(numbers)


def test_sigterm_mid_event_closes_it_and_webhooks_retry(sample_clip, tmp_path: Path) -> None:
    require_servers()
    clip, _ = sample_clip
    out = tmp_path / "out"
    sink = HookSink(fail_first=1)
    with RtspServer(clip, free_port()) as server:
        proc = subprocess.Popen(
            watch_command(server.url(), "--camera", "yard", "--out", str(out),
                          "--webhook", f"http://hook:hook-pw@127.0.0.1:{sink.port}/alerts"),
            env=watch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            end = time.monotonic() + 45
            while time.monotonic() < end and not any(p.get("state") == "started" for p, _ in sink.posts):
                time.sleep(0.1)
        finally:
            stdout, stderr = _stop(proc)  # mid-event: the person is still crossing
    sink.close()
    assert proc.returncode == 0, stderr
    states = [(p.get("state"), p.get("reason")) for p, _ in sink.posts if "state" in p]
    assert ("started", None) in states and ("ended", "stopped") in states, states
    assert sink.attempts > len(sink.posts)  # the first POST got a 500 and was sent again
    auth = sink.posts[0][1]["Authorization"]
    assert base64.b64decode(auth.split()[1]) == b"hook:hook-pw"
    folder, report = _day_report(out, "yard")
    [event] = report["events"]
    assert _clip_seconds(folder / event["clip"]) > 0
    assert "hook-pw" not in stdout + stderr
