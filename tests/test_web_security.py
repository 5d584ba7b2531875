"""Who may use ``veille serve``: the token off loopback (header, bearer, cookie from ?token=), the
loopback Host check, and the real command bound off loopback printing its warning and token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.cli_run import ROOT, cli_env
from tests.web_fixtures import YARD, build_archive, open_archive
from veille.web.app import create_app
from veille.web.archive import WebArchive
from veille.web.security import is_loopback


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, sample_clip: tuple[Path, dict]) -> Path:
    return build_archive(tmp_path_factory.mktemp("guard"), sample_clip[0])


@pytest.fixture
def archive(out: Path) -> Iterator[WebArchive]:
    archive = open_archive(out)
    yield archive
    archive.store.close()


def test_loopback_is_told_apart() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.5", "::", "example.org")))


def test_off_loopback_every_request_needs_the_token(archive: WebArchive) -> None:
    client = TestClient(create_app(archive, token="s3cret-token", refresh_s=None))
    for url in ("/", f"/video/{YARD}", "/media/sample/video", "/static/app.css", "/search?q=door"):
        refused = client.get(url)
        assert refused.status_code == 401 and "token" in refused.text, url
    assert client.get("/?token=wrong").status_code == 401
    assert client.get("/", headers={"x-veille-token": "s3cret-token"}).status_code == 200
    assert client.get("/", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    first = client.get("/video/sample?token=s3cret-token&t=4", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/video/sample?t=4"
    assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
    assert client.get("/video/sample").status_code == 200  # the cookie the first visit set
    secret = client.app.state.csrf  # type: ignore[attr-defined]
    assert client.post(f"/video/{YARD}/event/0/review", data={"mark": "confirmed"}).status_code == 403
    stranger = TestClient(create_app(archive, token="s3cret-token", refresh_s=None))
    posted = stranger.post(f"/video/{YARD}/event/0/review", data={"csrf": secret, "mark": "confirmed"})
    assert posted.status_code == 401


def test_on_loopback_only_loopback_host_names_are_answered(archive: WebArchive) -> None:
    client = TestClient(create_app(archive, loopback_hosts=True, refresh_s=None), base_url="http://127.0.0.1:8080")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "localhost:8080"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8080"}).status_code == 200
    assert client.get("/", headers={"host": "attacker.example:8080"}).status_code == 403


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, **headers: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # not listening yet
        return 0


def test_serve_off_loopback_warns_and_prints_a_token(out: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(out, tmp_path / "out")
    out = tmp_path / "out"
    (out / "archive.sqlite").unlink()  # made again with the default embedder (the fixture's is a test one)
    port = _free_port()
    env = {**cli_env(), "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "veille", "serve", str(out), "--host", "0.0.0.0", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "serving" in line, (line, server.stderr.read() if server.poll() is not None and server.stderr else "")
        token = line.split("?token=")[1].split()[0]
        base = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            if _get(base) != 0:
                break
            time.sleep(0.1)
        assert _get(base) == 401
        assert _get(base, **{"X-Veille-Token": token}) == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    err = server.stderr.read() if server.stderr else ""
    assert "warning: serving on 0.0.0.0" in err and "Traceback" not in err


def test_serve_a_folder_without_reports_says_what_to_do(tmp_path: Path) -> None:
    env = {**cli_env(), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "veille", "serve", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2 and "no index and no report" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    os.sync()
