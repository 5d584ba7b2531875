"""Opening a live source with PyAV, and the reconnection backoff."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

import av

from veille.settings import WatchSettings


def open_options(url: str, cfg: WatchSettings) -> tuple[str | None, dict[str, str]]:
    """The demuxer format and options for ``url``: RTSP over TCP (or UDP), MJPEG/HLS over HTTP, V4L2."""
    if url.startswith("/dev/video"):
        return "video4linux2", {}
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return None, {
            "rtsp_transport": cfg.rtsp_transport,
            "timeout": str(int(cfg.read_timeout_s * 1_000_000)),  # socket I/O timeout, microseconds
            "max_delay": "500000",
            "reorder_queue_size": "64",
        }
    # HTTP(S): FFmpeg tells multipart MJPEG (mpjpeg), HLS playlists and plain streams apart itself
    return None, {"rw_timeout": str(int(cfg.read_timeout_s * 1_000_000))}


def open_stream(url: str, cfg: WatchSettings) -> Any:
    """Open ``url`` for demuxing; raises ``av.FFmpegError`` or ``OSError`` when it cannot be reached.

    Both the connection and every read are bounded in time, so a camera that stops answering
    raises instead of blocking its thread.
    """
    fmt, options = open_options(url, cfg)
    container = av.open(
        url, format=fmt, options=options, timeout=(cfg.open_timeout_s, cfg.read_timeout_s), metadata_errors="ignore"
    )
    if not container.streams.video:
        container.close()
        raise av.FFmpegError(0, "the source has no video stream")
    return container


class Backoff:
    """Exponential backoff with jitter: 1 s, 2 s, 4 s … up to ``max_s``, each ±25 %; reset on success."""

    def __init__(self, max_s: float = 30.0, *, first_s: float = 1.0, rng: random.Random | None = None) -> None:
        self.max_s, self.first_s = max_s, first_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The wait before the next attempt (and count this failure)."""
        base = min(self.max_s, self.first_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return base * self._rng.uniform(0.75, 1.25)

    def reset(self) -> None:
        """A connection worked: start from the first delay again."""
        self.failures = 0
