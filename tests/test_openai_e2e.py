"""`veille analyze --vlm openai:… --llm openai:… --api-base URL`: a whole run against a stub OpenAI server.

The stub is a real HTTP server on 127.0.0.1 (a thread of the test) speaking the part of the OpenAI API
veille uses: ``GET /v1/models`` and ``POST /v1/chat/completions``. It checks what it is sent (the key,
the images as JPEG data URLs, the prompts) and answers as a describer, a judge and a summariser would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SECRET = "sk-test-0123456789-secret"
SCENE = re.compile(r"^\[(\d+)\] \d", re.MULTILINE)


def _answer(body: dict[str, Any]) -> str:
    """What the stub says: a description for images, verdict lines for the judge, a summary otherwise."""
    content = body["messages"][0]["content"]
    if isinstance(content, list):
        frames = sum(part["type"] == "image_url" for part in content)
        return f"Stub saw {frames} frames: a person in a red coat walks across the yard."
    if "Scenes:" in content:
        return "\n".join(f"[{cid}] | 1 | 0.8 | Stub title {cid}" for cid in SCENE.findall(content))
    return "Stub summary: a person crossed the yard."


class _Stub(BaseHTTPRequestHandler):
    server: Any

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.log.append(("GET", self.path, self.headers.get("Authorization"), None))
        self._reply(200, {"object": "list", "data": [{"id": "stub-vlm"}, {"id": "stub-llm"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.log.append(("POST", self.path, self.headers.get("Authorization"), body))
        if self.headers.get("Authorization") != f"Bearer {SECRET}":
            self._reply(401, {"error": "bad key"})
            return
        self._reply(200, {"choices": [{"message": {"role": "assistant", "content": _answer(body)}}]})

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def stub() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.log = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def analyze(video: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEILLE_", "OPENAI_", "HF_"))}
    env.update(
        VEILLE_API_KEY=SECRET,
        VEILLE_SCAN__CHUNK_S="10",
        HF_HUB_OFFLINE="1",  # nothing may come from the Hub: both models are the server's
        HF_HOME=str(out.parent / "hf-empty"),
        HF_ENDPOINT="http://127.0.0.1:9",
    )
    cmd = [sys.executable, "-m", "veille", "analyze", str(video), "--out", str(out), "--device", "cpu", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _everything_written(out: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".jpg")


def test_a_whole_analysis_runs_on_the_server(stub: Any, sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    video, _truth = sample_clip
    base = f"http://127.0.0.1:{stub.server_port}/v1"
    out = tmp_path / "out"
    proc = analyze(video, out, "--vlm", "openai:stub-vlm", "--llm", "openai:stub-llm", "--api-base", base, "-v")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "sample" / "report.json").read_text())

    posts = [body for method, _path, _auth, body in stub.log if method == "POST"]
    assert all(auth == f"Bearer {SECRET}" for _m, _p, auth, _b in stub.log) and stub.log[0][:2] == ("GET", "/v1/models")
    texts = [b["messages"][0]["content"] for b in posts]
    described = [b for b, text in zip(posts, texts, strict=True) if isinstance(text, list)]
    judged = [b for b, text in zip(posts, texts, strict=True) if isinstance(text, str) and "Scenes:" in text]
    assert described and judged and {b["model"] for b in described} == {"stub-vlm"}
    assert {b["model"] for b in judged} == {"stub-llm"}
    for body in described:
        parts = body["messages"][0]["content"]
        assert parts[-1]["type"] == "text" and "security camera" in parts[-1]["text"]
        for image in parts[:-1]:
            prefix, _, data = image["image_url"]["url"].partition(",")
            assert prefix == "data:image/jpeg;base64" and base64.b64decode(data)[:2] == b"\xff\xd8"  # a JPEG
    assert all("Threat levels" in b["messages"][0]["content"] for b in judged)

    assert report["models"]["describer"] == {
        "id": "stub-vlm", "revision": None, "device": "remote", "dtype": "remote", "quantization": None
    }
    assert report["models"]["reasoner"]["id"] == "stub-llm" and report["models"]["reasoner"]["device"] == "remote"
    model_events = [e for e in report["events"] if e["source"] != "motion"]
    assert model_events, report["events"]
    assert all(e["description"].startswith("Stub saw") and e["title"].startswith("Stub title") for e in model_events)
    assert {e["threat_level"] for e in model_events} == {1}
    assert report["summary"].startswith("Stub summary")
    assert SECRET not in proc.stdout + proc.stderr + _everything_written(out)  # the key is sent, never shown


def test_an_unreachable_server_falls_back_to_motion_or_fails_with_strict(
    sample_clip: tuple[Path, dict], tmp_path: Path
) -> None:
    video, _truth = sample_clip
    base = f"http://user:pw@127.0.0.1:{closed_port()}/v1"
    args = ("--vlm", "openai:stub-vlm", "--api-base", base)
    proc = analyze(video, tmp_path / "out", *args)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "the OpenAI-compatible server at http://***@127.0.0.1" in proc.stderr and "cannot be reached" in proc.stderr
    report = json.loads((tmp_path / "out" / "sample" / "report.json").read_text())
    assert report["events"] and all(e["source"] == "motion" for e in report["events"])
    assert any("cannot be reached" in w for w in report["warnings"]) and report["models"]["describer"] is None
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("veille: warning: analysed without the describer openai:stub-vlm (server not reachable)")
    assert "pw@" not in proc.stderr + _everything_written(tmp_path / "out")

    strict = analyze(video, tmp_path / "strict", *args, "--strict")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    errors = [ln for ln in strict.stderr.splitlines() if ln.startswith("veille: error:")]
    assert errors and "cannot be reached" in errors[0]


def test_a_remote_model_without_a_server_is_a_usage_error(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    proc = analyze(sample_clip[0], tmp_path / "out", "--llm", "openai:qwen")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "veille: error: --llm openai:qwen needs the server's address: add --llm-api-base or --api-base URL"
        " (e.g. http://127.0.0.1:11434/v1 for Ollama), or set api_base in veille.toml or VEILLE_API_BASE"
    )
