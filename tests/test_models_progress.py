"""Download progress receivers, the tqdm adapter huggingface_hub drives, and Ctrl-C mid-download."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fake_hub import FakeHub
from veille.models.progress import LineReporter, RichReporter, console_reporter, human_bytes, tqdm_class_for


class Recording:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def file_started(self, name: str, total: int | None, initial: int) -> None:
        self.events.append(("start", name, total, initial))

    def file_advanced(self, name: str, nbytes: int) -> None:
        self.events.append(("advance", name, nbytes))

    def file_done(self, name: str) -> None:
        self.events.append(("done", name))

    def message(self, text: str) -> None:
        self.events.append(("message", text))


def test_tqdm_adapter_forwards_bytes_with_the_file_name() -> None:
    recording = Recording()
    bar_class = tqdm_class_for(recording, "model.safetensors")
    with bar_class(desc="model.safe(…)", total=300, initial=100, unit="B", unit_scale=True) as bar:
        bar.update(150)
        bar.update(50)
    assert recording.events == [
        ("start", "model.safetensors", 300, 100),
        ("advance", "model.safetensors", 150),
        ("advance", "model.safetensors", 50),
    ]


def test_line_reporter_writes_one_line_per_file() -> None:
    out = io.StringIO()
    reporter = LineReporter(out)
    reporter.file_started("a.safetensors", 2_000_000, 0)
    reporter.file_advanced("a.safetensors", 2_000_000)
    reporter.file_done("a.safetensors")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].split()[:3] == ["a.safetensors", "2.0", "MB"] and "/s" in lines[0]


def test_rich_reporter_shows_a_bar_per_file() -> None:
    out = io.StringIO()
    reporter = RichReporter(out)
    reporter.file_started("model.safetensors", 10_000_000, 0)
    reporter.file_advanced("model.safetensors", 5_000_000)
    reporter.file_done("model.safetensors")
    assert "model.safetensors" in out.getvalue() and "10.0" in out.getvalue()


def test_console_reporter_choice() -> None:
    assert isinstance(console_reporter(quiet=False, stream=io.StringIO()), LineReporter)
    assert not hasattr(console_reporter(quiet=True), "stream")
    assert human_bytes(4_490_000_000) == "4.5 GB" and human_bytes(999) == "999 B"


def test_ctrl_c_mid_download_leaves_a_usable_cache(catalog_repo_dirs: dict[str, Path], tmp_path: Path) -> None:
    home = tmp_path / "hf"
    with FakeHub(catalog_repo_dirs) as hub:
        hub.stall("model.safetensors", seconds=30, methods=("GET",))
        env = hub.client_env(home, HF_HUB_DOWNLOAD_TIMEOUT="60")
        cmd = [sys.executable, "-m", "veille", "models", "download", "phi-2"]
        # a shell's background job starts with SIGINT ignored, and Python then keeps it ignored: undo that
        default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
        )
        deadline = time.monotonic() + 60
        while "model.safetensors" not in hub.requested_files("GET") and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err
        hub.clear_faults()
        listed = subprocess.run(
            [sys.executable, "-m", "veille", "models", "list", "--json"], env=env, capture_output=True, text=True
        )
        assert {r["name"]: r["cache_state"] for r in json.loads(listed.stdout)}["phi-2"] == "partial"
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
