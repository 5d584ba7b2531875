"""Cameras that fail: silent, garbage, gone. They go offline, are retried with backoff, and never hold up
the others or the stop."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from veille.live.config import resolve_cameras
from veille.live.watch import Watch
from veille.settings import Settings


class _Listener:
    """A TCP server on 127.0.0.1 that accepts and then either says nothing or sends ``reply`` forever."""

    def __init__(self, reply: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply, self.accepted, self.closing = reply, 0, False
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            if self.reply:
                threading.Thread(target=self._spew, args=(conn,), daemon=True).start()

    def _spew(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n")
            while not self.closing:
                conn.sendall(self.reply)
                time.sleep(0.01)
        except OSError:
            pass

    def close(self) -> None:
        self.closing = True
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_silent_and_garbage_cameras_go_offline_retry_and_stop_promptly(tmp_path: Path) -> None:
    silent, garbage = _Listener(), _Listener(reply=bytes(range(256)) * 16)
    settings = Settings(
        profile="motion",
        out_dir=tmp_path / "out",
        watch={"open_timeout_s": 1.0, "read_timeout_s": 1.0, "reconnect_max_s": 1.0},
    )
    sources = (f"rtsp://u:pw-silent@127.0.0.1:{silent.port}/x", f"http://127.0.0.1:{garbage.port}/stream.ts")
    said: list[str] = []
    watch = Watch(resolve_cameras(sources, settings, ("silent", "junk")), settings, say=said.append)
    watch.start()
    try:
        time.sleep(6)
    finally:
        stopped = time.monotonic()
        watch.close()
        took = time.monotonic() - stopped
        silent.close()
        garbage.close()
    quiet_cam, junk_cam = watch.workers
    assert took < 4, f"stopping took {took:.1f} s"
    assert not quiet_cam.is_alive() and not junk_cam.is_alive()
    assert silent.accepted >= 2 and garbage.accepted >= 2  # retried, again and again
    assert quiet_cam.connections == 0 and quiet_cam.alerts.statuses[-1] == "offline"
    assert junk_cam.alerts.statuses[-1] == "offline" and junk_cam.errors
    assert any("reconnecting in" in line for line in said)
    assert not [line for line in said if "pw-silent" in line]
    assert not list((tmp_path / "out").glob("*/*/report.json"))  # nothing to report, nothing written
