"""One camera's alerts: its rules, its MQTT link and its webhooks, fed event states."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from veille.live.alerts import AlertGate, MqttLink, WebhookSender
from veille.redact import mask_credentials
from veille.report.schema import ReportEvent
from veille.settings import AlertRules


def event_payload(camera: str, state: str, event: ReportEvent, start_wall: float, extra: dict[str, Any]) -> dict:
    """An alert's JSON: the report's event format, plus ``state``, the camera and wall-clock times."""
    payload = event.model_dump(mode="json")
    end_wall = start_wall + (event.end_s - event.start_s)
    payload.update(
        state=state,
        camera=camera,
        started_at=datetime.fromtimestamp(start_wall).astimezone().isoformat(timespec="milliseconds"),
        ended_at=datetime.fromtimestamp(end_wall).astimezone().isoformat(timespec="milliseconds")
        if state == "ended"
        else None,
        **extra,
    )
    return payload


class CameraAlerts:
    """Where one camera's alerts go, and which pass its rules (see :class:`AlertGate`)."""

    def __init__(
        self,
        camera: str,
        rules: AlertRules,
        *,
        mqtt: MqttLink | None = None,
        webhooks: WebhookSender | None = None,
        webhook_urls: tuple[str, ...] = (),
        scored: bool = False,
    ) -> None:
        self.camera = camera
        self.gate = AlertGate(rules, scored=scored)
        self.mqtt, self.webhooks, self.webhook_urls = mqtt, webhooks, webhook_urls
        self.published: deque[tuple[str, int]] = deque(maxlen=1000)  # the latest alerts sent (state, event id)
        self.statuses: deque[str] = deque(maxlen=1000)

    def status(self, value: str, detail: str = "") -> None:
        """The camera went ``online`` or ``offline`` (MQTT retained status; webhooks hear it too)."""
        self.statuses.append(value)
        if self.mqtt is not None:
            self.mqtt.status(value)
        for url in self.webhook_urls:
            if self.webhooks is not None:
                self.webhooks.send(url, {"camera": self.camera, "status": value, "detail": mask_credentials(detail)})

    def event(self, state: str, event: ReportEvent, start_wall: float, extra: dict[str, Any] | None = None) -> bool:
        """Send the event's ``state`` if the rules let it through; whether it went out."""
        key = (round(start_wall, 3), event.id)  # ids start again each day
        if not self.gate.allow(state, key, event.threat_level, event.anomaly_score):
            return False
        payload = event_payload(self.camera, state, event, start_wall, extra or {})
        if self.mqtt is not None:
            self.mqtt.event(payload)
        if self.webhooks is not None:
            for url in self.webhook_urls:
                self.webhooks.send(url, payload)
        self.published.append((state, event.id))
        return True
