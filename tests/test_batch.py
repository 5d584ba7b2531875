"""Batch runs: files, folders and globs; one folder per video; index.json + index.html; failures don't stop the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_badinput import write_clip
from veille.batch import assign_folders, render_index_html
from veille.cli import main


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cams/a/cam.mp4, cams/b/cam.mp4 (same stem), cams/c/<b>bold<b>.mp4, plus broken files."""
    root = tmp_path_factory.mktemp("cams")
    for sub in ("a", "b", "c"):
        (root / sub).mkdir()
    write_clip(root / "a" / "cam.mp4", n=40)
    write_clip(root / "b" / "cam.mp4", n=40)
    write_clip(root / "c" / "<b>bold<b>.mp4", n=30)
    (root / "b" / "broken.mp4").write_bytes(b"not a video at all" * 50)
    (root / "c" / "empty.mkv").write_bytes(b"")
    (root / "c" / "notes.txt").write_text("ignored: not a video extension")
    return root


def _run(*argv: str) -> int:
    try:
        main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def test_batch_with_bad_files_analyses_the_good_ones(clips: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = _run("analyze", str(clips), "--profile", "motion", "--out", str(out))
    captured = capsys.readouterr()
    assert code == 1
    assert "2 of 5 inputs failed" in captured.err
    summary = captured.err[captured.err.index("inputs failed") :]
    assert "broken.mp4" in summary and "empty.mkv" in summary and "Traceback" not in captured.err
    index = json.loads((out / "index.json").read_text())
    assert index["complete"] is True and index["total"] == 5 and index["failed"] == 2
    by_status = {v["folder"]: v["status"] for v in index["videos"]}
    assert by_status == {"cam-a": "ok", "cam-b": "ok", "_b_bold_b_": "ok", "broken": "failed", "empty": "failed"}
    for entry in index["videos"]:
        if entry["status"] == "ok":
            assert (out / entry["report"]).is_file()
            report = json.loads((out / entry["report"]).read_text())
            assert report["video"]["path"] == entry["video"]
        else:
            assert entry["error"] and entry["report"] is None
    html = (out / "index.html").read_text()
    assert "<b>bold<b>" not in html and "&lt;b&gt;bold&lt;b&gt;" in html
    assert 'href="cam-b/report.json"' in html


def test_rerun_keeps_each_video_in_its_folder(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, second = clips / "a" / "cam.mp4", clips / "b" / "cam.mp4"
    assert _run("analyze", str(first), str(second), "--profile", "motion", "--out", str(out), "-q") == 0
    folders = {v["video_abs"]: v["folder"] for v in json.loads((out / "index.json").read_text())["videos"]}
    assert _run("analyze", str(second), str(first), "--profile", "motion", "--out", str(out), "-q") == 0
    again = {v["video_abs"]: v["folder"] for v in json.loads((out / "index.json").read_text())["videos"]}
    assert again == folders and len(set(again.values())) == 2
    report = json.loads((out / folders[str(second.resolve())] / "report.json").read_text())
    assert report["stats"]["reused_chunks"] > 0  # the second run resumed in the same folder


def test_glob_input(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run("analyze", str(clips / "*" / "cam.mp4"), "--profile", "motion", "--out", str(out), "-q") == 0
    assert {v["folder"] for v in json.loads((out / "index.json").read_text())["videos"]} == {"cam-a", "cam-b"}


def test_unexpected_error_on_one_video_does_not_stop_the_batch(
    clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import veille.pipeline as pipeline

    real_probe = pipeline.probe

    def flaky(path):
        if Path(path).parent.name == "a":
            raise RuntimeError("decoder exploded")
        return real_probe(path)

    monkeypatch.setattr(pipeline, "probe", flaky)
    out = tmp_path / "out"
    code = _run(
        "analyze", str(clips / "a" / "cam.mp4"), str(clips / "b" / "cam.mp4"), "--profile", "motion", "--out", str(out)
    )
    err = capsys.readouterr().err
    assert code == 1 and "decoder exploded" in err and "Traceback" not in err
    statuses = [v["status"] for v in json.loads((out / "index.json").read_text())["videos"]]
    assert statuses == ["failed", "ok"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s), min_size=1, max_size=6))
def test_crafted_names_never_escape_the_output_folder(tmp_path_factory, names: list[str]) -> None:
    out = tmp_path_factory.getbasetemp() / "crafted-out"
    videos = [Path("/videos") / f"d{i}" / f"{name.replace('/', '_')}.mp4" for i, name in enumerate(names)]
    videos += [Path("/videos/../../etc/passwd"), Path("/videos/..mp4"), Path("/v/.hidden.mp4")]
    folders = assign_folders(videos, out)
    assert len({f.lower() for f in folders.values()}) == len(set(videos)), "two videos share a folder"
    for folder in folders.values():
        assert "/" not in folder and "\\" not in folder and not folder.startswith(".")
        assert (out / folder).resolve().parent == out.resolve()


def test_index_html_escapes_errors_and_names() -> None:
    data = {
        "total": 1,
        "failed": 1,
        "complete": False,
        "created_at": "now",
        "veille_version": "0",
        "videos": [
            {
                "video": '"><script>alert(1)</script>',
                "folder": "x",
                "status": "failed",
                "error": "<img src=x onerror=alert(1)>",
                "events": 0,
                "max_threat": None,
                "duration_s": None,
                "complete": False,
                "report": None,
                "html": None,
            }
        ],
    }
    html = render_index_html(data)
    assert "<script>" not in html and "<img" not in html and "incomplete run" in html
