"""``veille watch``: the cameras' threads, the alert senders, and a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from veille.live.alerts import MqttLink, WebhookSender, parse_mqtt_url
from veille.live.archive import DayArchive
from veille.live.camera import CameraWorker
from veille.live.config import CameraSpec
from veille.live.notify import CameraAlerts
from veille.redact import mask_credentials
from veille.settings import Settings

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"veille: {mask_credentials(message)}", file=sys.stderr, flush=True)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the main thread only; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Watch:
    """A running ``veille watch``: start it, let it run until ``stop`` is set, close it."""

    def __init__(self, cameras: list[CameraSpec], settings: Settings, *, say: Say | None = None) -> None:
        self.cameras, self.settings = cameras, settings
        self.say = say or _stderr
        self.stop = threading.Event()
        self.out_dir = Path(settings.out_dir)
        self.archive = DayArchive(self.out_dir, warn=self.say)
        url = settings.mqtt.url
        if url:
            parse_mqtt_url(url)  # a bad URL is a usage error before anything starts
        cfg = settings.watch
        hooks = [cfg.webhook, *(c.webhook for c in cameras)]
        self.webhooks = (
            WebhookSender(timeout_s=cfg.webhook_timeout_s, retries=cfg.webhook_retries, warn=self.say)
            if any(hooks)
            else None
        )
        self.links: list[MqttLink] = []
        self.workers: list[CameraWorker] = []
        self.profiles = _profiles(cameras, settings)  # an unknown or damaged profile stops here
        self.describer = None
        if settings.profile != "motion":
            from veille.live.models import EventDescriber

            self.describer = EventDescriber(settings, warn=self.say)

    def start(self) -> None:
        """Start the senders and one thread per camera."""
        if self.webhooks is not None:
            self.webhooks.start()
        if self.describer is not None:
            self.describer.start()
        for spec in self.cameras:
            link = None
            if self.settings.mqtt.url:
                link = MqttLink(self.settings.mqtt.url, spec.name, self.settings.mqtt.topic_prefix, warn=self.say)
                self.links.append(link)
            urls = tuple(u for u in (self.settings.watch.webhook, spec.webhook) if u)
            profile = self.profiles.get(spec.name)
            alerts = CameraAlerts(spec.name, spec.rules, mqtt=link, webhooks=self.webhooks, webhook_urls=urls,
                                  scored=profile is not None)
            worker = CameraWorker(spec, self.settings, self.archive, alerts, self.stop, say=self.say,
                                  describer=self.describer, profile=profile)
            self.workers.append(worker)
            worker.start()

    def wait(self) -> None:
        """Block until ``stop`` is set (a signal, or the caller)."""
        while not self.stop.wait(0.5):
            pass

    def close(self) -> None:
        """Stop the cameras (their open events are closed and written), then flush the senders."""
        self.stop.set()
        grace = self.settings.watch.read_timeout_s + self.settings.watch.open_timeout_s + 5
        for worker in self.workers:
            worker.join(grace)
            if worker.is_alive():
                self.say(f"{worker.spec.name}: still blocked in the stream after {grace:.0f} s; left behind")
        if self.describer is not None:
            self.describer.close()
        if self.webhooks is not None:
            self.webhooks.close()
        for link in self.links:
            link.close()


def _profiles(cameras: list[CameraSpec], settings: Settings) -> dict[str, Any]:
    """The calibrated profile of each camera that names one (raises CameraProfileError otherwise)."""
    named = [c for c in cameras if c.calibration]
    if not named:
        return {}
    from veille.anomaly.store import CameraStore

    store = CameraStore(settings.cameras_dir)
    return {c.name: store.load(c.calibration) for c in named if c.calibration}


def run_watch(cameras: list[CameraSpec], settings: Settings, *, say: Say | None = None) -> Watch:
    """Watch ``cameras`` until SIGTERM or Ctrl-C; everything is closed and written when it returns."""
    watch = Watch(cameras, settings, say=say)
    with _stop_on_signals(watch.stop):
        watch.start()
        names = ", ".join(f"{c.name} ({c.shown})" for c in cameras)
        watch.say(f"watching {names}; writing to {watch.out_dir}; stop with Ctrl-C")
        try:
            watch.wait()
        finally:
            watch.close()
    watch.say("stopped; open events closed and written")
    return watch
