"""Ctrl-C in the middle of a scan, as a user does it: `veille analyze` in a subprocess gets SIGINT once
the scan has saved some progress; the partial report holds what was found so far, the console says
where it is and that a re-run resumes, and the re-run scans only the rest and ends as an
uninterrupted run does."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veille.sample import make_sample
from veille.workcache import MEMO_FILE

SECONDS = 180.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-minute synthetic clip (320x180, 10 fps): someone crosses every 20 s."""
    path = tmp_path_factory.mktemp("interrupt") / "street.mp4"
    make_sample(path, seconds=SECONDS, width=320, height=180, fps=10)
    return path


def _command(video: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "veille", "analyze", str(video), "--profile", "motion", "--out", str(out)]


def _report(out: Path) -> dict:
    return json.loads((out / "street" / "report.json").read_text())


def _saved_scan(out: Path) -> dict | None:
    """The scan state the running analysis saved in its work cache, if any yet."""
    path = out / "street" / MEMO_FILE
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            row = db.execute("SELECT value FROM work WHERE stage = 'scan' AND key = 'state'").fetchone()
    except sqlite3.Error:  # being written, or not created yet
        return None
    return json.loads(row[0]) if row else None


def _interrupt_after_first_chunk(video: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the analysis; send SIGINT once the scan has saved a state holding at least one chunk."""
    # a background job may start with SIGINT ignored, which Python would keep: restore the default
    proc = subprocess.Popen(
        _command(video, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        state = _saved_scan(out)
        if state is not None and state["next_id"] >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert state is not None and not state["result"]["complete"], "the scan ended before it could be interrupted"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), state


def test_ctrl_c_during_scan_keeps_what_was_found_and_rerun_resumes(clip: Path, tmp_path: Path) -> None:
    whole_out = tmp_path / "whole"
    done = subprocess.run([*_command(clip, whole_out), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    whole = _report(whole_out)
    assert len(whole["events"]) >= 6

    out = tmp_path / "out"
    stopped, state = _interrupt_after_first_chunk(clip, out)
    assert stopped.returncode == 130, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert "Traceback" not in stopped.stderr
    assert f"partial report: {out / 'street' / 'report.html'}" in last and "run the same command again" in last
    partial = _report(out)
    assert partial["complete"] is False
    scanned_to = partial["stats"]["scanned_to_s"]
    assert 0 < scanned_to < SECONDS, "the report says how far the scan got"
    assert partial["events"] and partial["segments"], "the activity found before Ctrl-C is kept"
    assert all(e["start_s"] < scanned_to + 30 for e in partial["events"])
    found = partial["segments"]  # the last one may be cut where the scan stopped
    assert len(found) >= sum(seg["end_s"] < scanned_to for seg in whole["segments"]), "all activity up to there"
    assert found[:-1] == whole["segments"][: len(found) - 1]
    assert found[-1]["start_s"] == whole["segments"][len(found) - 1]["start_s"]
    assert any("up to" in w and "resume" in w for w in partial["warnings"])
    saved = state["result"]
    assert 0 < saved["scanned_to_s"] < SECONDS and 0 < saved["frames_decoded"] < whole["stats"]["frames_decoded"]
    polled, state = state, _saved_scan(out)  # saved once more on Ctrl-C, if it could be: the rerun resumes from it
    assert state is not None and state["next_id"] >= polled["next_id"] and state["result"]["scanned_to_s"] > 0

    again = subprocess.run(_command(clip, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    final = _report(out)
    stats = final["stats"]
    assert final["complete"] is True and stats["scanned_to_s"] == SECONDS
    assert stats["scan_resumed_at_s"] == pytest.approx(state["result"]["scanned_to_s"], abs=1e-3)
    assert stats["reused_chunks"] >= state["next_id"], "the chunks found before Ctrl-C were not scanned again"
    # only the rest was read: the totals (saved part + this run) are exactly those of one whole scan
    for key in ("packets_scanned", "frames_decoded"):
        assert stats[key] == whole["stats"][key], key
    assert final["segments"] == whole["segments"]
    assert [(e["start_s"], e["end_s"], e["title"]) for e in final["events"]] == [
        (e["start_s"], e["end_s"], e["title"]) for e in whole["events"]
    ]
    shown = {k["image"] for e in final["events"] for k in e["keyframes"]}
    on_disk = {f"thumbs/{p.name}" for p in (out / "street" / "thumbs").iterdir()}
    assert shown == on_disk, "every thumbnail shown exists, and no other is left behind"
