"""The parts of ``veille watch`` on their own: activity gate, pre-event buffer, clips, rules, senders, config."""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path

import av
import pytest

from tests.live_servers import HookSink
from veille.errors import UsageError
from veille.live.activity import LiveActivity
from veille.live.alerts import AlertGate, WebhookSender, in_quiet_hours, parse_mqtt_url
from veille.live.config import resolve_cameras
from veille.live.recorder import ClipWriter, PreBuffer
from veille.live.source import Backoff
from veille.settings import AlertRules, ScanSettings, load_settings


def _packets(path: Path):
    """A file's packets in the order a live demuxer hands them, with their times."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                yield stream, float(packet.pts * packet.time_base), packet


def _run_activity(path: Path) -> tuple[LiveActivity, list[float], int]:
    buffer = PreBuffer(3.0)
    activity = None
    moving: list[float] = []
    total = 0
    for stream, t, packet in _packets(path):
        activity = activity or LiveActivity(stream, ScanSettings())
        total += 1
        buffer.add(t, packet)
        for sample in activity.feed(packet, t, buffer.since_key()):
            if sample.motion.score >= ScanSettings().motion_threshold:
                moving.append(sample.motion.t_s)
    assert activity is not None
    return activity, moving, total


def test_packet_sizes_gate_decoding_on_vbr_and_motion_is_found(clips) -> None:
    path, truth = clips["vbr"]
    activity, moving, total = _run_activity(path)
    ((start, end),) = truth
    assert activity.mode == "packets"
    assert activity.frames_decoded < 0.6 * total  # quiet stretches were not decoded
    assert moving and start - 0.5 <= min(moving) <= start + 1.0 and max(moving) <= end + 0.5


@pytest.mark.parametrize("encoding", ["cbr", "mjpeg"])
def test_without_a_packet_signal_every_frame_is_decoded(clips, encoding: str) -> None:
    path, truth = clips[encoding]
    activity, moving, total = _run_activity(path)
    ((start, _end),) = truth
    assert activity.mode == "pixels" and activity.frames_decoded >= 0.75 * total  # non-reference B-frames skipped
    assert moving and start - 0.5 <= min(moving) <= start + 1.0


class _P:
    def __init__(self, key: bool) -> None:
        self.is_keyframe = key


def test_pre_buffer_keeps_from_the_keyframe_at_least_pre_s_back() -> None:
    buffer = PreBuffer(3.0)
    for i in range(100):  # 10 fps, a keyframe every 2 s
        buffer.add(i / 10, _P(i % 20 == 0))
    items = buffer.from_time(9.9 - 3.0)
    assert items[0][0] == 6.0 and items[0][1].is_keyframe  # 6.0 ≤ 6.9: the keyframe before the pre-roll
    assert buffer.since_key()[0][1].is_keyframe and len(buffer.since_key()) == 19  # 8.0 … 9.8
    assert len(buffer) <= 40  # nothing older than the keyframe before the pre-roll is held


def test_pre_buffer_is_bounded_without_keyframes() -> None:
    buffer = PreBuffer(3.0, max_packets=50)
    for i in range(500):
        buffer.add(i / 10, _P(i == 0))
    assert len(buffer) == 50 and buffer.since_key() == []


def test_clip_writer_copies_packets_from_a_keyframe(clips, tmp_path: Path) -> None:
    path, _ = clips["vbr"]
    target = tmp_path / "clip.mp4"
    writer = None
    source_stream = None
    for stream, t, packet in _packets(path):
        if t < 3.3:  # starts mid-GOP: packets before the next keyframe are dropped
            continue
        source_stream = stream
        writer = writer or ClipWriter(target, stream)
        writer.write(t, packet)
        if t > 9.0:
            break
    assert writer is not None and source_stream is not None
    assert writer.first_t is not None and writer.first_t >= 3.3
    assert writer.close() == target and not list(tmp_path.glob(".*part*"))
    with av.open(str(target)) as clip:
        frames = list(clip.decode(video=0))
        assert clip.streams.video[0].codec_context.name == "h264"
    assert 4.0 <= len(frames) / 10 <= 6.0 and frames[0].key_frame


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.75 * base <= delay <= 1.25 * base
    assert len({round(d, 6) for d in delays[3:]}) == 3  # jitter: attempts do not line up
    backoff.reset()
    assert backoff.next_delay() <= 1.25


def test_quiet_hours_span_midnight() -> None:
    rules = AlertRules(quiet_hours=["23:00-06:00"])
    assert in_quiet_hours(rules, datetime(2024, 5, 1, 23, 30)) and in_quiet_hours(rules, datetime(2024, 5, 1, 5, 59))
    assert not in_quiet_hours(rules, datetime(2024, 5, 1, 6, 0)) and not in_quiet_hours(rules, datetime(2024, 5, 1, 12))
    with pytest.raises(ValueError):
        AlertRules(quiet_hours=["25:00-06:00"])


def test_gate_cooldown_threat_and_follow_up_states() -> None:
    now = [1000.0]
    gate = AlertGate(AlertRules(cooldown_s=60, min_threat=0), clock=lambda: now[0])
    assert gate.allow("started", 1, 0, None)
    now[0] += 10
    assert not gate.allow("started", 2, 0, None)  # within the cooldown
    assert gate.allow("ended", 1, 0, None) and not gate.allow("ended", 2, 0, None)  # ended follows started
    now[0] += 60
    assert gate.allow("started", 3, 0, None)
    strict = AlertGate(AlertRules(cooldown_s=0, min_threat=2, min_anomaly=1.5), clock=lambda: now[0])
    assert not strict.allow("started", 1, 0, None)  # motion only: held back
    assert strict.allow("judged", 1, 2, None)  # the verdict raises it: alerted then
    assert not strict.allow("started", 2, 2, 0.5)  # not unusual enough
    assert strict.held == 2


def test_mqtt_url_is_checked_and_masked() -> None:
    assert parse_mqtt_url("mqtt://u:p%40ss@broker:1884") == ("broker", 1884, "u", "p@ss", False)
    assert parse_mqtt_url("mqtts://broker")[1:] == (8883, None, None, True)
    with pytest.raises(UsageError) as err:
        parse_mqtt_url("http://u:topsecret@broker")
    assert "topsecret" not in str(err.value) and "mqtt://" in str(err.value)


def test_webhook_retries_with_backoff_then_gives_up_counted() -> None:
    sink = HookSink(fail_first=2)
    warnings: list[str] = []
    sender = WebhookSender(timeout_s=2, retries=3, first_delay_s=0.05, warn=warnings.append)
    sender.start()
    sender.send(f"http://a:pw-1@127.0.0.1:{sink.port}/x", {"state": "started"})
    sender.close()
    assert sink.attempts == 3 and [p for p, _ in sink.posts] == [{"state": "started"}] and sender.sent == 1
    dead = WebhookSender(timeout_s=0.5, retries=1, first_delay_s=0.05, warn=warnings.append)
    dead.start()
    started = time.monotonic()
    dead.send("http://b:pw-2@127.0.0.1:9/never", {"state": "ended"})  # port 9: refused
    dead.close()
    assert dead.failed == 1 and time.monotonic() - started < 5
    assert warnings and all("pw-2" not in w for w in warnings) and "2 attempts" in warnings[-1]
    sink.close()


def test_webhook_queue_is_bounded_and_never_blocks() -> None:
    sender = WebhookSender(warn=lambda m: None)  # not started: nothing drains the queue
    started = time.monotonic()
    for _ in range(300):
        sender.send("http://127.0.0.1:9/x", {})
    assert time.monotonic() - started < 1 and sender.dropped == 300 - 256


def test_cameras_from_sources_and_sections(tmp_path: Path) -> None:
    (tmp_path / "veille.toml").write_text(
        '[cameras.front]\nurl = "rtsp://admin:pw@10.0.0.5/stream1"\ncontext = "front door"\n'
        '[cameras.front.rules]\nmin_threat = 1\nquiet_hours = ["01:00-05:00"]\n'
    )
    settings = load_settings(search_dir=tmp_path, env={})
    [front] = resolve_cameras((), settings)
    assert front.name == "front" and front.context == "front door" and front.rules.min_threat == 1
    assert "pw" not in front.shown
    [a, b] = resolve_cameras(("front", "rtsp://10.0.0.6/live/main"), settings)
    assert (a.name, b.name) == ("front", "10.0.0.6_live_main") and b.rules.min_threat == 0
    with pytest.raises(UsageError) as err:
        resolve_cameras(("ftp://u:secretpw@x/y",), settings)
    assert "secretpw" not in str(err.value)
    with pytest.raises(UsageError):
        resolve_cameras(("rtsp://x/a", "rtsp://y/b"), settings, ("same", "same"))


def test_day_reports_are_indexed_under_camera_and_day(tmp_path: Path) -> None:
    from veille.archive.indexer import report_folders, sync
    from veille.archive.store import Store
    from veille.live.archive import DayArchive, StreamFacts, midnight
    from veille.report.schema import ReportEvent

    archive = DayArchive(tmp_path)
    ts = datetime(2024, 5, 1, 22, 15, 0).timestamp()
    day_s = ts - midnight(ts)
    event = ReportEvent(id=0, start_s=day_s, end_s=day_s + 6, title="Movement on the left", description="Movement.",
                        threat_level=0, confidence=0.6, source="motion", clip="clips/x.mp4")
    archive.add("porch", ts, event, StreamFacts(1280, 720, 15.0, "h264"))
    assert list(report_folders(tmp_path)) == ["porch/2024-05-01"]
    with Store(tmp_path / "archive.sqlite") as store:
        assert sync(store, tmp_path).indexed == []  # already indexed when the event was written
        row = store.conn.execute("SELECT folder, camera, start_ts FROM videos").fetchone()
        [(number, start_s)] = store.conn.execute("SELECT number, start_s FROM events").fetchall()
    assert row == ("porch/2024-05-01", "porch", datetime(2024, 5, 1).timestamp())
    assert (number, start_s) == (0, day_s)  # the day's start plus start_s is when it happened
    later = event.model_copy(update={"id": 1, "start_s": day_s + 60, "end_s": day_s + 70})
    archive.add("porch", ts + 60, later, StreamFacts(1280, 720, 15.0, "h264"))
    with Store(tmp_path / "archive.sqlite") as store:
        assert store.count("events") == 2 and store.count("videos") == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ftp://u:pw-9@x/y",), "is not a camera source"),
        ((), "no camera to watch"),
        (("rtsp://h/x", "--mqtt", "http://u:pw-8@broker"), "is not a broker"),
        (("rtsp://h/x", "--camera", "a", "--camera", "b"), "one name per source"),
    ],
)
def test_watch_bad_input_is_one_masked_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    from tests.cli_run import veille

    done = veille("watch", *args, cwd=tmp_path, timeout=60)
    assert done.code == 2 and says in done.err and "Traceback" not in done.err
    assert len(done.err.strip().splitlines()) == 1 and "pw-" not in done.err
    assert not (tmp_path / "veille-reports").exists()  # nothing half-written


def _moving(t: float, score: float = 0.01) -> object:
    from veille.types import Box, MotionSample

    return MotionSample(t, score, (Box("motion", (10, 10, 50, 80)),))


def test_tracker_opens_on_two_moving_frames_ends_after_quiet_and_splits_long_ones(monkeypatch) -> None:
    import numpy as np

    from veille.live import events
    from veille.live.events import EventTracker

    monkeypatch.setattr(events, "to_rgb", lambda frame: np.zeros((4, 4, 3), np.uint8))
    tracker = EventTracker(threshold=0.005, quiet_s=2.0, max_event_s=10.0)
    assert tracker.sample(_moving(1.0), None, 101.0) is None  # one frame alone opens nothing
    assert tracker.sample(_moving(3.0), None, 103.0) is None  # too far from the first
    opened = tracker.sample(_moving(3.5), None, 103.5)
    assert opened is not None and opened.start_t == 3.0 and opened.start_wall == 103.0
    assert tracker.sample(_moving(4.0, 0.001), None, 104.0) is None  # below the threshold: not movement
    assert list(tracker.tick(5.4)) == []
    [ended] = list(tracker.tick(5.6))
    assert (ended.end_t, ended.reason) == (3.5, "quiet") and tracker.open is None
    tracker.sample(_moving(20.0), None, 120.0)
    for i in range(1, 40):
        tracker.sample(_moving(20.0 + i * 0.3), None, 120.0 + i * 0.3)
        if tracker.open is None:
            break
        done = list(tracker.tick(20.0 + i * 0.3))
        if done:
            assert done[0].reason == "longest event length reached" and done[0].duration_s() <= 10.5
            assert 2 <= len(done[0].frames) < 8  # frames kept stay few (thinned), however long the event
            break
    else:
        raise AssertionError("a long event was never split")
