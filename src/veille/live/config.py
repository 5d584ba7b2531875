"""Which cameras to watch: sources from the command line and ``[cameras.NAME]`` sections, resolved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from veille.errors import UsageError
from veille.pipeline import safe_name
from veille.redact import mask_credentials
from veille.settings import AlertRules, CameraSettings, Settings

SCHEMES = ("rtsp", "rtsps", "http", "https")


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One camera to watch: its name (a safe folder name), source, and what shapes its alerts."""

    name: str
    url: str
    context: str = ""
    rules: AlertRules = field(default_factory=AlertRules)
    masks: tuple[tuple[tuple[float, float], ...], ...] = ()
    webhook: str | None = None
    calibration: str | None = None  # the camera profile scoring its events (veille calibrate)

    @property
    def shown(self) -> str:
        """The source with its credentials masked."""
        return mask_credentials(self.url)


def check_source(url: str) -> None:
    """Raise a one-line :class:`UsageError` when ``url`` is not a source ``veille watch`` can read."""
    if re.fullmatch(r"/dev/video\d+", url):
        return
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES or not urlsplit(url).hostname:
        raise UsageError(
            f"{mask_credentials(url)} is not a camera source; give rtsp://HOST/PATH, rtsps://, an http(s) MJPEG"
            " or HLS URL, /dev/videoN, or the NAME of a [cameras.NAME] section of veille.toml"
        )


def default_name(url: str) -> str:
    """A camera name from its source: ``/dev/video0`` → ``video0``, ``rtsp://host/cam1`` → ``host_cam1``."""
    if url.startswith("/dev/"):
        return safe_name(url.rsplit("/", 1)[-1])
    parts = urlsplit(url)
    path = parts.path.strip("/").replace("/", "_")
    return safe_name(f"{parts.hostname or 'camera'}_{path}" if path else (parts.hostname or "camera"))


def resolve_cameras(sources: tuple[str, ...], settings: Settings, names: tuple[str, ...] = ()) -> list[CameraSpec]:
    """The cameras of a ``veille watch`` run.

    A source is a URL, a device, or the name of a ``[cameras.NAME]`` section; with no source, every
    section is watched. ``names`` (``--camera``, once per source, in order) name the sources.
    """
    sections = settings.cameras
    if not sources:
        if not sections:
            raise UsageError(
                "no camera to watch: give a source (rtsp://...) or add [cameras.NAME] sections to veille.toml"
            )
        sources = tuple(sections)
    if names and len(names) != len(sources):
        raise UsageError(f"{len(names)} --camera name(s) for {len(sources)} source(s); give one name per source")
    specs = [_spec(source, names[i] if names else None, settings) for i, source in enumerate(sources)]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise UsageError(f"two cameras are named {spec.name!r}; give each source its own --camera NAME")
        seen.add(spec.name)
    return specs


def _spec(source: str, name: str | None, settings: Settings) -> CameraSpec:
    section: CameraSettings | None = settings.cameras.get(source) or settings.cameras.get(name or "")
    if section is None:
        section = next((c for c in settings.cameras.values() if c.url == source), None)
    url = section.url if section is not None and source in settings.cameras else source
    check_source(url)
    if name is None:
        key = next((k for k, c in settings.cameras.items() if c is section), None)
        name = key or default_name(url)
    clean = safe_name(name)
    extra: dict[str, Any] = {}
    if section is not None:
        extra = {
            "context": section.context,
            "masks": tuple(tuple(tuple(p) for p in poly) for poly in section.masks),
            "webhook": section.webhook,
            "calibration": section.calibration,
        }
        if section.rules is not None:
            extra["rules"] = section.rules
    extra.setdefault("rules", settings.watch.rules)
    return CameraSpec(name=clean, url=url, **extra)
