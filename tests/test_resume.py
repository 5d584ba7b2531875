"""Resume: the work cache, interruptions (Ctrl-C, SIGTERM) leaving valid partial outputs, and re-runs reusing work."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from veille.cli import main
from veille.settings import Settings
from veille.workcache import MEMO_FILE, Memo, NullMemo, file_fingerprint, run_key

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv: str) -> int:
    try:
        main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def test_memo_get_put_and_reopen(tmp_path: Path) -> None:
    memo = Memo(tmp_path, "run-a")
    assert memo.get("describe", "3") is None
    memo.put("describe", "3", {"text": "a person walks", "n": 1})
    memo.close()
    again = Memo(tmp_path, "run-a")
    assert again.get("describe", "3") == {"text": "a person walks", "n": 1}
    assert again.hits["describe"] == 1 and again.reused_chunks() == 1 and again.count() == 1
    again.close()
    other = Memo(tmp_path, "run-b")  # other settings/models/file: old work is dropped, never reused
    assert other.get("describe", "3") is None and other.count() == 0
    other.close()


def test_damaged_memo_file_is_started_afresh(tmp_path: Path) -> None:
    (tmp_path / MEMO_FILE).write_bytes(b"this is not sqlite" * 100)
    memo = Memo(tmp_path, "k")
    memo.put("scan", "video", {"x": 1})
    assert memo.get("scan", "video") == {"x": 1}
    assert any("damaged" in w for w in memo.warnings)


def test_null_memo_keeps_nothing() -> None:
    memo = NullMemo()
    memo.put("describe", "1", {"a": 1})
    assert memo.get("describe", "1") is None and memo.reused_chunks() == 0


def test_run_key_follows_file_settings_and_models(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(os.urandom(3 << 20))
    base = Settings(profile="motion")
    key = run_key(video, base)
    assert run_key(video, base.model_copy(update={"out_dir": tmp_path / "elsewhere", "quiet": True})) == key
    changed = Settings(profile="motion", scan={"chunk_s": 7})
    assert run_key(video, changed) != key
    assert run_key(video, base, {"describer": "smolvlm"}) != key
    before = file_fingerprint(video)
    with open(video, "r+b") as handle:  # same size, last MiB changed
        handle.seek(-10, os.SEEK_END)
        handle.write(b"0123456789")
    assert file_fingerprint(video) != before


def test_rerun_reuses_the_scan(sample_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video, _ = sample_clip
    out = tmp_path / "out"
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out), "-q") == 0
    first = _report(out / "sample")
    assert first["stats"]["reused_chunks"] == 0 and first["events"]

    import veille.pipeline as pipeline

    def no_scan(*args, **kwargs):
        raise AssertionError("the scan ran again although the work cache holds it")

    monkeypatch.setattr(pipeline, "_scan", no_scan)
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out), "-q") == 0
    second = _report(out / "sample")
    assert second["stats"]["reused_chunks"] > 0
    assert second["segments"] == first["segments"]
    assert [e["start_s"] for e in second["events"]] == [e["start_s"] for e in first["events"]]
    for event in second["events"]:  # keyframes were decoded again from the video
        assert all((out / "sample" / k["image"]).is_file() for k in event["keyframes"])


def test_ctrl_c_writes_partial_report_then_rerun_resumes(
    sample_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    video, _ = sample_clip
    out = tmp_path / "out"
    import veille.pipeline as pipeline
    from veille.report.thumbs import Thumbnails

    monkeypatch.setattr(pipeline, "CHECKPOINT_EVERY_S", 0.0)
    real_keep = Thumbnails.keep

    def interrupt_once(self, chunk):
        monkeypatch.setattr(Thumbnails, "keep", real_keep)
        raise KeyboardInterrupt

    monkeypatch.setattr(Thumbnails, "keep", interrupt_once)
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out)) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "interrupted" in err.splitlines()[-1]
    assert f"partial report: {out / 'sample' / 'report.html'}" in err and "resume" in err.splitlines()[-1]
    partial = _report(out / "sample")
    assert partial["complete"] is False
    assert partial["segments"] and partial["events"], "the activity found before Ctrl-C is in the partial report"
    assert 0 < partial["stats"]["scanned_to_s"] <= partial["video"]["duration_s"]
    assert any("incomplete" in w and "up to" in w for w in partial["warnings"])
    assert all((out / "sample" / k["image"]).is_file() for e in partial["events"] for k in e["keyframes"])
    index = json.loads((out / "index.json").read_text())
    assert index["complete"] is False and index["videos"][0]["status"] == "interrupted"

    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out)) == 0
    final = _report(out / "sample")
    assert final["complete"] is True
    assert final["stats"]["scan_resumed_at_s"] > 0, "the scan went on from where it stopped"
    assert final["stats"]["reused_chunks"] >= 1, "the chunk in hand at Ctrl-C was saved with the scan's state"
    assert json.loads((out / "index.json").read_text())["complete"] is True
    monkeypatch.setattr(pipeline, "CHECKPOINT_EVERY_S", 0.5)
    fresh = tmp_path / "fresh"
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(fresh), "-q") == 0
    whole = _report(fresh / "sample")
    assert final["segments"] == whole["segments"] and len(final["events"]) == len(whole["events"])
    for key in ("packets_scanned", "frames_decoded"):
        assert final["stats"][key] == whole["stats"][key]


def test_interrupt_during_scan_leaves_valid_outputs(
    sample_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video, _ = sample_clip
    out = tmp_path / "out"
    import veille.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_scan", interrupted)
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out)) == 130
    partial = _report(out / "sample")
    assert partial["complete"] is False and partial["segments"] == [] and partial["events"] == []
    assert not list(out.rglob("*.tmp"))


def test_sigterm_gives_partial_report_and_exit_130(sample_clip, tmp_path: Path) -> None:
    video, _ = sample_clip
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import os, signal, time
        import veille.pipeline as pipeline

        def events(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler must cut this short

        pipeline._events = events
        from veille.cli import main
        main(["analyze", {str(video)!r}, "--profile", "motion", "--out", {str(out)!r}])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _report(out / "sample")["complete"] is False


def test_reused_chunks_do_not_double_count_stages(tmp_path: Path) -> None:
    memo = Memo(tmp_path, "k")
    for chunk in ("0", "1", "2"):
        memo.put("describe", f"{chunk}:smolvlm", {"text": "t"})
        memo.put("reason", f"{chunk}:phi-2", {"level": 0})
    for chunk in ("0", "1", "2"):
        memo.get("describe", f"{chunk}:smolvlm")
    memo.get("reason", "0:phi-2")
    memo.get("scan", "video")
    assert memo.reused_chunks() == 3


def test_a_scan_state_of_another_version_is_scanned_again(sample_clip, tmp_path: Path) -> None:
    import sqlite3

    video, _ = sample_clip
    out = tmp_path / "out"
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out), "-q") == 0
    first = _report(out / "sample")
    with contextlib.closing(sqlite3.connect(out / "sample" / MEMO_FILE)) as db, db:
        (value,) = db.execute("SELECT value FROM work WHERE stage = 'scan' AND key = 'state'").fetchone()
        state = json.loads(value)
        state["version"] = 999  # as if a later veille had written it
        db.execute("UPDATE work SET value = ? WHERE stage = 'scan' AND key = 'state'", (json.dumps(state),))
    assert _cli("analyze", str(video), "--profile", "motion", "--out", str(out), "-q") == 0
    again = _report(out / "sample")
    assert any("another version" in w for w in again["warnings"])
    assert again["segments"] == first["segments"] and again["stats"]["reused_chunks"] == 0
