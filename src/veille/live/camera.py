"""One camera's thread: connect, read packets, find events, record and archive them, alert; reconnect."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av

from veille.analysis.motion_events import motion_event
from veille.live.activity import LiveActivity
from veille.live.anomaly import LiveAnomaly
from veille.live.archive import DayArchive, StreamFacts, midnight
from veille.live.config import CameraSpec
from veille.live.events import EventTracker, LiveEvent
from veille.live.notify import CameraAlerts
from veille.live.recorder import ClipWriter, PreBuffer
from veille.live.source import Backoff, open_stream
from veille.redact import mask_credentials
from veille.report.evidence import draw_boxes, save_jpeg
from veille.report.schema import ReportBox, ReportEvent, ReportKeyframe
from veille.settings import Settings
from veille.types import Chunk, Keyframe

Say = Callable[[str], None]
#: Demuxers whose timestamps are frame counters at a guessed rate (HTTP MJPEG): arrival time is used.
CLOCK_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"})
#: A connection that delivered video this long resets the reconnection backoff.
HEALTHY_S = 10.0


class CameraWorker(threading.Thread):
    """Watches one camera until ``stop`` is set; a failing camera only ever waits and retries."""

    def __init__(
        self,
        spec: CameraSpec,
        settings: Settings,
        archive: DayArchive,
        alerts: CameraAlerts,
        stop: threading.Event,
        *,
        say: Say | None = None,
        describer: Any = None,
        profile: Any = None,
    ) -> None:
        super().__init__(name=f"veille-camera-{spec.name}", daemon=True)
        self.spec, self.settings, self.archive, self.alerts, self.stop = spec, settings, archive, alerts, stop
        self.say = say or (lambda message: None)
        self.describer = describer
        self.profile = profile  # the calibrated camera profile scoring events (None: not scored)
        self.anomaly: LiveAnomaly | None = None
        self.cfg = settings.watch
        scan = settings.scan
        self.scan = scan.model_copy(update={"masks": [list(p) for p in spec.masks]}) if spec.masks else scan
        self.connections = 0
        self.events = 0
        self.errors: deque[str] = deque(maxlen=100)  # the latest reasons the stream was lost
        self.activity: LiveActivity | None = None
        self.online = False

    def run(self) -> None:
        """Connect, read, reconnect with backoff, until stopped."""
        backoff = Backoff(self.cfg.reconnect_max_s)
        while not self.stop.is_set():
            error = ""
            try:
                container = open_stream(self.spec.url, self.cfg)
            except Exception as exc:  # unreachable, refused, timed out, not a video: wait and retry
                error = _why(exc)
            else:
                self.connections += 1
                self._status("online", "")
                started = time.monotonic()
                try:
                    error = self._read(container) or "the stream ended"
                except Exception as exc:  # a broken stream must not end the thread
                    error = _why(exc)
                finally:
                    container.close()
                if time.monotonic() - started >= HEALTHY_S:
                    backoff.reset()
            if self.stop.is_set():
                break
            self._status("offline", error)
            delay = backoff.next_delay()
            self.say(f"{self.spec.name}: {error}; reconnecting in {delay:.1f} s")
            self.stop.wait(delay)
        self._status("offline", "stopped")

    def _status(self, value: str, detail: str) -> None:
        if (value == "online") != self.online or (value == "offline" and detail == "stopped"):
            self.online = value == "online"
            self.alerts.status(value, mask_credentials(detail))
            if value == "online":
                self.say(f"{self.spec.name}: online ({self.spec.shown})")
        if detail and value == "offline":
            self.errors.append(mask_credentials(detail))

    def _read(self, container: Any) -> str:
        """Read until the stream ends or fails, or ``stop``; open events are closed on the way out."""
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 15.0
        facts = StreamFacts(ctx.width, ctx.height, rate, ctx.name)
        clock = container.format.name in CLOCK_FORMATS  # no real timestamps: time packets as they arrive
        activity = self.activity = LiveActivity(stream, self.scan, clock=clock)
        tracker = EventTracker(self.scan.motion_threshold, self.cfg.quiet_s, self.cfg.max_event_s)
        self.anomaly = self._scorer(facts)
        buffer = PreBuffer(self.cfg.pre_s)
        offset = float("inf")
        connected = time.monotonic()
        t = 0.0
        try:
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return "stopped"
                if not packet.size:
                    continue
                if clock:
                    t = time.monotonic() - connected
                elif packet.pts is not None:
                    t = float(packet.pts * packet.time_base)
                # the stream's clock on the wall's: packets never arrive before they are sent, so the
                # least (arrival - stream time) seen is the best estimate (buffering only delays them)
                offset = min(offset, time.time() - t)
                wall = t + offset
                buffer.add(t, packet)
                was_open = tracker.open is not None
                for sample in activity.feed(packet, t, buffer.since_key()):
                    if self.anomaly is not None:
                        self.anomaly.feed(sample.motion.t_s, sample.frame)
                    opened = tracker.sample(sample.motion, sample.frame, wall - (t - sample.motion.t_s))
                    if opened is not None:
                        self._event_started(opened, stream, buffer, facts, clock)
                if was_open and tracker.open is not None and tracker.open.clip is not None:
                    tracker.open.clip.write(t, packet)
                for ended in tracker.tick(t):
                    self._event_ended(ended, facts)
                chunk_done = tracker.open is not None and t - tracker.open.chunk_start_t >= self.scan.chunk_s
                if self.describer is not None and chunk_done and tracker.open is not None:
                    self._submit_chunk(tracker.open, facts, t)  # a chunk of a long event: described as it goes
        finally:
            if tracker.open is not None:
                self._event_ended(tracker.close(reason="stopped" if self.stop.is_set() else "stream lost"), facts)
        return ""

    def _scorer(self, facts: StreamFacts) -> LiveAnomaly | None:
        if self.profile is None:
            return None
        why = LiveAnomaly.fits(self.profile, self.spec.name, facts.width, facts.height, facts.fps, facts.codec)
        if why:
            self.say(f"{self.spec.name}: events not scored: {why}")
            return None
        return LiveAnomaly(self.profile, facts.fps)

    def _event_started(
        self, event: LiveEvent, stream: Any, buffer: PreBuffer, facts: StreamFacts, clock: bool
    ) -> None:
        self.events += 1
        event.number = self.archive.next_number(self.spec.name, event.start_wall, facts)
        path = self.archive.clip_path(self.spec.name, event.start_wall, event.number)
        try:
            event.clip = ClipWriter(path, stream, clock=clock)
            for t, packet in buffer.from_time(event.start_t - self.cfg.pre_s):
                event.clip.write(t, packet)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.say(f"{self.spec.name}: cannot record event {event.number}: {_why(exc)}")
            if event.clip is not None:
                event.clip.abandon()
            event.clip = None
        report = self._report_event(event, facts, final=False)
        self.alerts.event("started", report, event.start_wall)
        self.archive.add(self.spec.name, event.start_wall, report, facts)  # in the index while it lasts
        self.say(f"{self.spec.name}: event {event.number} started: {report.title}")

    def _event_ended(self, event: LiveEvent, facts: StreamFacts) -> None:
        clip = None
        if event.clip is not None:
            try:
                clip = event.clip.close()
            except (av.FFmpegError, OSError) as exc:
                self.say(f"{self.spec.name}: clip of event {event.number} lost: {_why(exc)}")
        report = self._report_event(event, facts, final=True, clip=clip)
        if self.anomaly is not None:
            score, why = self.anomaly.verdict(event.start_t, event.end_t or event.last_active_t, self.settings.lang)
            report = report.model_copy(update={"anomaly_score": score, "anomaly_reason": why})
        self.archive.add(self.spec.name, event.start_wall, report, facts)
        self.alerts.event("ended", report, event.start_wall, {"reason": event.reason})
        self.say(f"{self.spec.name}: event {event.number} ended after {event.duration_s():.1f} s ({event.reason})")
        if self.describer is not None:
            if event.chunks_sent:  # the last part of an event whose earlier chunks were described
                self._submit_chunk(event, facts, event.end_t or event.last_active_t)
            else:
                self.describer.submit(self, event.chosen, report, facts, event.start_wall)
        event.frames, event.chosen = [], ()

    def _submit_chunk(self, event: LiveEvent, facts: StreamFacts, end_t: float) -> None:
        """Hand the models the part of an open (or just ended) event since its last chunk."""
        assert self.describer is not None
        frames = [f for f in event.frames if event.chunk_start_t <= f[0] <= end_t]
        day_s = event.start_wall - midnight(event.start_wall)
        start_s, end_s = day_s + event.chunk_start_t - event.start_t, day_s + end_t - event.start_t
        event.chunk_start_t, event.chunks_sent = end_t, event.chunks_sent + 1
        if not frames:
            return
        step = max(1, len(frames) // self.scan.keyframes_per_chunk)
        keyframes = tuple(Keyframe(day_s + t - event.start_t, image, score, boxes) for t, image, boxes, score in
                          frames[::step][: self.scan.keyframes_per_chunk])
        part = ReportEvent(id=event.number, start_s=round(start_s, 3), end_s=round(max(start_s, end_s), 3),
                           title="Movement", description="", threat_level=0, confidence=0.5, source="motion")
        self.describer.submit(self, keyframes, part, facts, event.start_wall)

    def _report_event(
        self, event: LiveEvent, facts: StreamFacts, *, final: bool, clip: Path | None = None
    ) -> ReportEvent:
        """The event in the report's format, its thumbnails written (the first frame only, at its start)."""
        day_s = event.start_wall - midnight(event.start_wall)
        stem = self.archive.stem(self.spec.name, event.start_wall)
        images: dict[str, Any] = {}
        keyframes = []
        for i, (t, image, boxes, score) in enumerate(event.frames if final else event.frames[:1]):
            name = f"thumbs/{stem}_{event.number:03d}_{i if final else 'start'}.jpg"
            images[name] = (image, boxes)
            keyframes.append(Keyframe(day_s + t - event.start_t, None, score, boxes, thumb=name))
        chunk = Chunk(0, 0, day_s, day_s + event.duration_s(), tuple(keyframes), tuple(event.boxes), event.regions,
                      event.peak)
        width, height = (facts.width, facts.height) if facts.width else self.activity.frame_size  # type: ignore[union-attr]
        motion = motion_event(event.number, [chunk], max(1, width), max(1, height), lang=self.settings.lang)
        if final:
            event.chosen = tuple(replace(k, image=images[k.thumb][0]) for k in motion.keyframes)
        folder = self.archive.folder(self.spec.name, event.start_wall)
        for k in motion.keyframes:  # the started alert shows the first frame; the report, a spread of them
            (folder / k.thumb).parent.mkdir(parents=True, exist_ok=True)
            save_jpeg(folder / k.thumb, draw_boxes(*images[k.thumb]))
        return ReportEvent(
            id=event.number,
            start_s=round(day_s, 3),
            end_s=round(day_s + event.duration_s(), 3),
            title=motion.title,
            description=motion.description,
            threat_level=0,
            confidence=motion.confidence,
            source="motion",
            keyframes=[
                ReportKeyframe(t_s=round(k.t_s, 3), image=k.thumb, boxes=[ReportBox(label=b.label, xyxy=b.xyxy)
                                                                          for b in k.boxes])
                for k in motion.keyframes
            ],
            clip=f"clips/{clip.name}" if clip is not None else None,
        )


def _why(exc: BaseException) -> str:
    """An exception as one masked line."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return mask_credentials(f"{type(exc).__name__}: {text}"[:300])
