"""Model profiles on live events: the describer and judge worker (fake backends speaking the real protocol).

The worker runs the same engine as ``analyze`` (describe, judge); events are updated in the day's
report and alerted as ``described`` and ``judged``; when the models are behind, events are skipped
with a counted warning and the stream is never held up.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.live_servers import RtspServer, free_port, require_servers
from veille.backends.fake import FakeBackend
from veille.live.archive import DayArchive, StreamFacts
from veille.live.config import resolve_cameras
from veille.live.models import EventDescriber
from veille.live.notify import CameraAlerts
from veille.live.watch import Watch
from veille.models.session import ModelLifetime, ModelSession
from veille.report.schema import ReportEvent
from veille.settings import AlertRules, Settings
from veille.types import Box, Keyframe

FACTS = StreamFacts(64, 48, 15.0, "h264")
DESCRIPTION = "A person in a red jacket walks to the gate and tries the handle."


def _reasoner(prompt: str) -> str:
    if "[0]" in prompt:
        return "[0] | 2 | 0.9 | Person tries the gate"
    return "Someone tried the gate."


def _session(tmp_path: Path, describer: FakeBackend) -> ModelSession:
    roles = {"describer": describer, "reasoner": FakeBackend(default=_reasoner)}
    settings = Settings(profile="full", device="cpu", vlm=str(tmp_path), llm=str(tmp_path), grounder="none")
    return ModelSession(settings, factory=lambda role, *a, **k: roles[role], lifetime=ModelLifetime.BATCH)


def _camera(tmp_path: Path, name: str = "gate") -> SimpleNamespace:
    archive = DayArchive(tmp_path / "out")
    alerts = CameraAlerts(name, AlertRules(cooldown_s=0))
    spec = SimpleNamespace(name=name, context="back gate, closed at night")
    return SimpleNamespace(spec=spec, archive=archive, alerts=alerts)


def _event(camera: SimpleNamespace, number: int, start_wall: float) -> tuple[ReportEvent, tuple[Keyframe, ...]]:
    event = ReportEvent(id=number, start_s=10.0, end_s=16.0, title="Movement", description="Movement.",
                        threat_level=0, confidence=0.6, source="motion")
    camera.archive.add(camera.spec.name, start_wall, event, FACTS)
    image = np.full((48, 64, 3), 90, np.uint8)
    keyframes = tuple(Keyframe(10.0 + i, image, 0.02, (Box("motion", (5, 5, 20, 30)),)) for i in range(2))
    return event, keyframes


def test_events_are_described_judged_written_and_alerted(tmp_path: Path) -> None:
    describer = FakeBackend(default=DESCRIPTION)
    worker = EventDescriber(Settings(profile="full"), session=_session(tmp_path, describer))
    camera = _camera(tmp_path)
    start = time.time()
    event, keyframes = _event(camera, 0, start)
    worker.start()
    assert worker.submit(camera, keyframes, event, FACTS, start)
    worker.close()
    assert list(camera.alerts.published) == [("described", 0), ("judged", 0)]
    [path] = (tmp_path / "out" / "gate").glob("*/report.json")
    [written] = json.loads(path.read_text())["events"]
    assert written["source"] == "vlm" and written["description"].startswith("A person in a red jacket")
    assert written["threat_level"] == 2
    assert "back gate, closed at night" in describer.history[0].prompt  # the camera's context went along
    assert describer.history[0].images >= 1  # the keyframes (as a storyboard on the CPU)


def test_models_behind_skip_events_counted_never_blocking(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(prompt: str) -> str:
        release.wait(20)
        return DESCRIPTION

    warnings: list[str] = []
    worker = EventDescriber(
        Settings(profile="full"), session=_session(tmp_path, FakeBackend(default=slow)), warn=warnings.append,
        max_pending=1,
    )
    camera = _camera(tmp_path)
    worker.start()
    start = time.time()
    took = []
    for number in range(6):
        event, keyframes = _event(camera, number, start + number)
        t0 = time.monotonic()
        worker.submit(camera, keyframes, event, FACTS, start + number)
        took.append(time.monotonic() - t0)
    assert max(took) < 0.2  # never waits for the models
    assert worker.skipped >= 4 and f"({worker.skipped} skipped so far)" in warnings[-1]
    release.set()
    worker.close()
    assert worker.done == 6 - worker.skipped


@pytest.mark.slow
def test_live_stream_events_reach_the_models(sample_clip, tmp_path: Path) -> None:
    require_servers()
    clip, _ = sample_clip
    settings = Settings(profile="full", out_dir=tmp_path / "out", watch={"quiet_s": 2.0})
    said: list[str] = []
    with RtspServer(clip, free_port()) as server:
        cameras = resolve_cameras((server.url(),), settings, ("lane",))
        watch = Watch(cameras, settings, say=said.append)
        watch.describer = EventDescriber(settings, session=_session(tmp_path, FakeBackend(default=DESCRIPTION)))
        watch.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (watch.describer.done and watch.workers[0].alerts.published):
                time.sleep(0.2)
        finally:
            watch.close()
    published = watch.workers[0].alerts.published
    assert [s for s, _ in published][:4] == ["started", "ended", "described", "judged"], said
    [path] = (tmp_path / "out" / "lane").glob("*/report.json")
    [event] = json.loads(path.read_text())["events"]
    assert event["source"] == "vlm" and event["threat_level"] == 2 and event["clip"]


@pytest.mark.slow
def test_long_event_is_described_chunk_by_chunk_while_it_lasts(sample_clip, tmp_path: Path) -> None:
    require_servers()
    clip, _ = sample_clip
    settings = Settings(profile="full", out_dir=tmp_path / "out", watch={"quiet_s": 2.0}, scan={"chunk_s": 3.0})
    with RtspServer(clip, free_port()) as server:
        watch = Watch(resolve_cameras((server.url(),), settings, ("lane",)), settings, say=lambda m: None)
        watch.describer = EventDescriber(settings, session=_session(tmp_path, FakeBackend(default=DESCRIPTION)))
        watch.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and watch.describer.done < 3:
                time.sleep(0.2)
        finally:
            watch.close()
    states = [s for s, _ in watch.workers[0].alerts.published]
    assert states.index("described") < states.index("ended")  # the first chunk was described mid-event
    assert states.count("described") >= 3
    [path] = (tmp_path / "out" / "lane").glob("*/report.json")
    [event] = json.loads(path.read_text())["events"]
    assert event["source"] == "vlm" and event["threat_level"] == 2  # kept when the event was written at its end
    assert event["description"].count("red jacket") >= 3  # each chunk's words, one after the other
