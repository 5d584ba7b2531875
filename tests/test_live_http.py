"""An HTTP MJPEG camera (multipart/x-mixed-replace, as most IP cameras serve it): no usable timestamps,
no packet-size signal; every frame goes through the pixel pass, times come from the arrival clock, and the
event is recorded as copied JPEG packets in Matroska."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from veille.live.config import resolve_cameras
from veille.live.watch import Watch
from veille.settings import Settings

pytestmark = pytest.mark.slow
FPS = 10


def _server(jpegs: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            start = time.monotonic()
            try:
                for i, jpeg in enumerate(jpegs):
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    self.wfile.write(head + jpeg + b"\r\n")
                    time.sleep(max(0.0, start + (i + 1) / FPS - time.monotonic()))
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_mjpeg_camera_gives_a_timed_event_and_a_clip(clips, tmp_path: Path) -> None:
    path, [(start, end)] = clips["mjpeg"]
    with av.open(str(path)) as container:
        jpegs = [bytes(p) for p in container.demux(video=0) if p.size][: int((end + 4) * FPS)]
    server = _server(jpegs)
    settings = Settings(profile="motion", out_dir=tmp_path / "out", watch={"quiet_s": 2.0})
    url = f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    watch = Watch(resolve_cameras((url,), settings, ("mjpeg",)), settings, say=lambda m: None)
    watch.start()
    try:
        deadline = time.monotonic() + end + 15
        while time.monotonic() < deadline and ("ended", 0) not in watch.workers[0].alerts.published:
            time.sleep(0.2)
    finally:
        watch.close()
        server.shutdown()
    worker = watch.workers[0]
    assert worker.activity is not None and worker.activity.mode == "pixels"
    [report] = (tmp_path / "out" / "mjpeg").glob("*/report.json")
    [event] = json.loads(report.read_text())["events"]
    assert abs((event["end_s"] - event["start_s"]) - (end - start)) < 1.5  # wall-clock seconds, not 25 fps
    clip = report.parent / event["clip"]
    assert clip.suffix == ".mkv"
    with av.open(str(clip)) as recorded:
        seconds = float(recorded.duration or 0) / 1e6
        assert recorded.streams.video[0].codec_context.name == "mjpeg"
    assert seconds >= (end - start) + 1.0
