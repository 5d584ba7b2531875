"""Alerts: which events are worth one (per-camera rules), and the MQTT and webhook senders.

Nothing here blocks the analysis: MQTT messages go through paho's own network thread (its queue
bounded), webhooks through one background sender with a bounded queue; a full queue drops the
alert with a counted warning. Every URL and error is shown with its credentials masked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import queue
import threading
import time
import urllib.request
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from veille.errors import UsageError
from veille.redact import mask_credentials
from veille.settings import AlertRules

log = logging.getLogger(__name__)
Warn = Callable[[str], None]
STATES = ("started", "described", "judged", "ended")
#: Events whose first alert went out, remembered so that their later states follow it.
SENT_KEPT = 1000


def in_quiet_hours(rules: AlertRules, when: datetime) -> bool:
    """Whether local time ``when`` falls in one of the rules' quiet hours (``"23:00-06:00"`` spans midnight)."""
    minute = when.hour * 60 + when.minute
    for item in rules.quiet_hours:
        start, end = (int(a) * 60 + int(b) for a, b in (part.split(":") for part in item.strip().split("-")))
        if (start <= minute < end) if start <= end else (minute >= start or minute < end):
            return True
    return False


@dataclass(slots=True)
class AlertGate:
    """One camera's rules applied to its events' states.

    An event's first alert (normally ``started``) goes out outside quiet hours, once the cooldown since
    the camera's last alert is over, and when the event reaches the least threat and anomaly score;
    its later states follow. An event held back at first is alerted at a later state that qualifies
    it: the judge's verdict raising its threat, or (on a calibrated camera, ``scored``) its anomaly
    score, known when it ends. Events without a score pass ``min_anomaly`` on uncalibrated cameras.
    """

    rules: AlertRules
    clock: Callable[[], float] = time.time
    scored: bool = False
    _last_alert: float = -1e18
    _sent: dict[Hashable, None] = field(default_factory=dict)  # events alerted (their later states follow), latest last
    held: int = 0

    def allow(self, state: str, key: Hashable, threat: int, anomaly: float | None) -> bool:
        """Whether the alert for event ``key`` in ``state`` goes out."""
        now = self.clock()
        if key in self._sent:  # described and judged come after ended: the key is kept
            return True
        rules = self.rules
        newly_scored = self.scored and rules.min_anomaly is not None and anomaly is not None
        if (
            (state == "ended" and not newly_scored)
            or in_quiet_hours(rules, datetime.fromtimestamp(now))
            or not self._passes(threat, anomaly)
            or now - self._last_alert < rules.cooldown_s
        ):
            self.held += state == "started"
            return False
        self._last_alert = now
        self._sent[key] = None
        while len(self._sent) > SENT_KEPT:
            del self._sent[next(iter(self._sent))]
        return True

    def _passes(self, threat: int, anomaly: float | None) -> bool:
        least = self.rules.min_anomaly
        if threat < self.rules.min_threat:
            return False
        if least is None:
            return True
        return anomaly >= least if anomaly is not None else not self.scored


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """``mqtt://[user:pass@]host[:port]`` (or ``mqtts://``) → host, port, user, password, tls."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UsageError(
            f"--mqtt {mask_credentials(url)} is not a broker; give mqtt://HOST[:PORT] (mqtts:// for TLS),"
            " with user:password@ before HOST if the broker asks for one"
        )
    tls = parts.scheme == "mqtts"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, parts.port or (8883 if tls else 1883), user, password, tls


class MqttLink:
    """One camera's MQTT client: ``<prefix>/<camera>/events`` and the retained ``<prefix>/<camera>/status``.

    The broker is told to publish ``offline`` (retained) when the client is lost (last will).
    paho reconnects on its own; messages wait in its bounded queue meanwhile.
    """

    def __init__(self, url: str, camera: str, prefix: str = "veille", warn: Warn | None = None) -> None:
        import paho.mqtt.client as mqtt

        host, port, user, password, tls = parse_mqtt_url(url)
        self.shown = mask_credentials(url)
        self.events_topic = f"{prefix}/{camera}/events"
        self.status_topic = f"{prefix}/{camera}/status"
        self.warn = warn or (lambda message: None)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"veille-{camera}-{os.getpid()}")
        self.client.max_queued_messages_set(1000)
        self.client.reconnect_delay_set(1, 30)
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.client.will_set(self.status_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self._status = "offline"
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self.warn(f"MQTT broker {self.shown} refused the connection: {reason}")
            return
        client.publish(self.status_topic, self._status, qos=1, retain=True)

    def status(self, value: str) -> None:
        """Publish ``online`` or ``offline`` (retained)."""
        self._status = value
        self.client.publish(self.status_topic, value, qos=1, retain=True)

    def event(self, payload: dict[str, Any]) -> None:
        """Publish an event message (QoS 1)."""
        info = self.client.publish(self.events_topic, json.dumps(payload), qos=1)
        if info.rc not in (0, 4):  # 4: not connected yet, queued
            self.warn(f"MQTT message to {self.shown} dropped (paho error {info.rc})")

    def close(self) -> None:
        """Publish ``offline``, flush, disconnect."""
        info = self.client.publish(self.status_topic, "offline", qos=1, retain=True)
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(timeout=3)
        deadline = time.monotonic() + 3
        while self.client.want_write() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()


def _request(url: str, body: bytes) -> urllib.request.Request:
    """A POST of ``body`` to ``url``; credentials in the URL become a Basic authorization header."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "User-Agent": "veille-watch"}
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return urllib.request.Request(url, data=body, headers=headers, method="POST")


class WebhookSender(threading.Thread):
    """POSTs alerts as JSON from a background thread: bounded queue, timeout, retries with backoff."""

    def __init__(
        self, *, timeout_s: float = 5.0, retries: int = 3, first_delay_s: float = 0.5, warn: Warn | None = None
    ) -> None:
        super().__init__(name="veille-webhooks", daemon=True)
        self.timeout_s, self.retries, self.first_delay_s = timeout_s, retries, first_delay_s
        self.warn = warn or (lambda message: None)
        self.queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize=256)
        self.dropped = 0
        self.failed = 0
        self.sent = 0

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Queue a POST; never blocks (a full queue drops it, counted)."""
        try:
            self.queue.put_nowait((url, payload))
        except queue.Full:
            self.dropped += 1
            self.warn(f"webhook queue full: alert to {mask_credentials(url)} dropped ({self.dropped} so far)")

    def run(self) -> None:
        """Send until :meth:`close`."""
        while (item := self.queue.get()) is not None:
            self._post(*item)

    def _post(self, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        delay = self.first_delay_s
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(_request(url, body), timeout=self.timeout_s) as response:
                    response.read()
                self.sent += 1
                return
            except Exception as exc:  # any failure is retried, then reported (masked)
                error = mask_credentials(f"{type(exc).__name__}: {exc}")
                if attempt == self.retries:
                    self.failed += 1
                    self.warn(f"webhook {mask_credentials(url)} failed after {attempt + 1} attempts: {error}")
                    return
                time.sleep(delay)
                delay *= 2

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop."""
        try:
            self.queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self.join(timeout_s)
