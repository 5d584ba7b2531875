"""Real servers on 127.0.0.1 for the live tests and benchmark: GStreamer's RTSP server, Mosquitto, and an
MQTT subscriber and an HTTP sink to see what ``veille watch`` sends.

The system packages (see ``.ci/run``) must be there: without them the live tests fail, unless
``VEILLE_SKIP_LIVE=1`` is set, which skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("rtsp_server.py")
APT = (
    "apt-get install -y gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
    " gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav python3-gi mosquitto"
)


def missing_servers() -> str | None:
    """What is missing to run the live tests (None: everything is there)."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").is_file():
        return "mosquitto is not installed"
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        ok = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return None if ok else "GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) is not installed"


def require_servers() -> None:
    """Fail (or skip with VEILLE_SKIP_LIVE=1) when the servers cannot be run."""
    import pytest

    why = missing_servers()
    if why is None:
        return
    if os.environ.get("VEILLE_SKIP_LIVE") == "1":
        pytest.skip(f"{why} (VEILLE_SKIP_LIVE=1)")
    pytest.fail(f"{why}: run `{APT}` (or set VEILLE_SKIP_LIVE=1 to skip the live tests)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_line(proc: subprocess.Popen, want: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
            continue
        if line.strip() == want:
            return
    raise TimeoutError(f"server did not print {want!r} in {timeout_s} s")


class RtspServer:
    """``tests/rtsp_server.py`` in a subprocess of the system Python; :attr:`played` holds the wall times at
    which each client's stream started (the clip's t = 0)."""

    def __init__(self, clip: Path, port: int, *, user: str | None = None, password: str | None = None) -> None:
        self.clip, self.port, self.user, self.password = clip, port, user, password
        self.played: list[float] = []
        self.proc: subprocess.Popen | None = None

    def url(self, *, auth: bool = True) -> str:
        """The stream's URL (with the credentials, when the server asks for them)."""
        cred = f"{self.user}:{self.password}@" if self.user and auth else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/cam"

    def start(self) -> RtspServer:
        """Start serving (returns once the server listens)."""
        cmd = [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.clip), "--port", str(self.port)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password or ""]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_line(self.proc, "ready", 30)
        threading.Thread(target=self._follow, args=(self.proc,), daemon=True).start()
        return self

    def _follow(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("playing "):
                self.played.append(float(line.split()[1]))

    def kill(self) -> None:
        """Kill the server at once (no goodbye to the clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class Mosquitto:
    """A Mosquitto broker on a free loopback port, with a generated configuration (anonymous allowed)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise TimeoutError("mosquitto did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


class Subscriber:
    """Records every message under ``veille/#`` with its arrival time."""

    def __init__(self, port: int, topic: str = "veille/#") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, str, str, bool]] = []  # (time, topic, payload, retained)
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{os.getpid()}-{port}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((time.time(), message.topic, message.payload.decode(), bool(message.retain)))

    def events(self, state: str | None = None) -> list[tuple[float, dict]]:
        """Event messages (time, payload), optionally of one state."""
        with self._lock:
            found = [(t, json.loads(p)) for t, topic, p, _ in self.messages if topic.endswith("/events")]
        return [(t, e) for t, e in found if state is None or e["state"] == state]

    def statuses(self, camera: str = "+") -> list[str]:
        """The status payloads (of one camera, or all), in order."""
        with self._lock:
            return [
                p
                for _, topic, p, _ in self.messages
                if topic.endswith("/status") and (camera == "+" or topic == f"veille/{camera}/status")
            ]

    def wait_for(self, check: Callable[[], Any], timeout_s: float) -> Any:
        """Poll ``check`` until it returns something true; raise on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.1)
        with self._lock:
            seen = [(topic, p[:120]) for _, topic, p, _ in self.messages]
        raise TimeoutError(f"not seen within {timeout_s} s; messages so far: {seen}")

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


class HookSink:
    """An HTTP server recording POSTed JSON; the first ``fail_first`` requests get a 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[tuple[dict, dict[str, str]]] = []
        self.attempts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.attempts += 1
                if sink.attempts <= fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                sink.posts.append((json.loads(body), dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def watch_command(*args: str) -> list[str]:
    """``python -m veille watch ARGS`` with this interpreter."""
    return [sys.executable, "-m", "veille", "watch", *args]


def watch_env(**extra: str) -> dict[str, str]:
    """The environment of a ``veille watch`` subprocess: this checkout's sources first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env
