"""A report folder belongs to one source file; same-stem files get folders a person can tell apart;
the index's counts agree with its rows, run after run into the same output folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli_run import veille
from tests.test_badinput import write_clip
from veille.batch import SOURCE_FILE, assign_folders


@pytest.fixture(scope="module")
def same_stems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """trunc.ts and trunc.mkv side by side; Train001.mp4 in ped1/train and ped2/train."""
    root = tmp_path_factory.mktemp("stems")
    write_clip(root / "trunc.ts", n=30)
    write_clip(root / "trunc.mkv", n=30)
    for ped in ("ped1", "ped2"):
        (root / ped / "train").mkdir(parents=True)
        write_clip(root / ped / "train" / "Train001.mp4", n=30)
    return root


def _index(out: Path) -> dict:
    return json.loads((out / "index.json").read_text())


def _source(out: Path, folder: str) -> str:
    return json.loads((out / folder / "report.json").read_text())["video"]["path"]


def _check_counts(out: Path) -> None:
    index = _index(out)
    assert index["total"] == len(index["videos"])
    assert index["failed"] == sum(v["status"] == "failed" for v in index["videos"])
    html = (out / "index.html").read_text()
    rows = html.count('<tr class="')
    assert rows == len(index["videos"])
    heading = re.search(r"<h1>veille — (\d+) (videos?)", html)
    assert heading and int(heading.group(1)) == rows and heading.group(2) == ("video" if rows == 1 else "videos")


def test_same_stem_in_a_later_run_gets_its_own_folder(same_stems: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = veille("analyze", str(same_stems / "trunc.ts"), "--profile", "motion", "--out", str(out), cwd=tmp_path)
    assert first.code == 0, first.err
    _check_counts(out)
    second = veille("analyze", str(same_stems / "trunc.mkv"), "--profile", "motion", "--out", str(out), cwd=tmp_path)
    assert second.code == 0, second.err
    assert _source(out, "trunc").endswith("trunc.ts")  # not overwritten
    assert _source(out, "trunc-mkv").endswith("trunc.mkv")
    assert {v["folder"] for v in _index(out)["videos"]} == {"trunc", "trunc-mkv"}
    _check_counts(out)
    # without the index, the owner mark in the folder still keeps the two apart
    (out / "index.json").unlink()
    third = veille("analyze", str(same_stems / "trunc.mkv"), "--profile", "motion", "--out", str(out), cwd=tmp_path)
    assert third.code == 0, third.err
    assert _source(out, "trunc").endswith("trunc.ts") and [v["folder"] for v in _index(out)["videos"]] == ["trunc-mkv"]
    assert (out / "trunc" / SOURCE_FILE).read_text().strip() == str((same_stems / "trunc.ts").resolve())
    report = json.loads((out / "trunc-mkv" / "report.json").read_text())
    assert report["stats"]["reused_chunks"] > 0  # it went back to its own folder and resumed


def test_same_name_in_different_folders_is_named_by_the_folder_that_differs(same_stems: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = veille("analyze", str(same_stems / "ped1"), str(same_stems / "ped2"), "--profile", "motion",
                  "--out", str(out), "-q", cwd=tmp_path)  # fmt: skip
    assert done.code == 0, done.err
    assert {v["folder"]: v["video"].split("/")[-3] for v in _index(out)["videos"]} == {
        "Train001-ped1": "ped1",
        "Train001-ped2": "ped2",
    }
    _check_counts(out)


def test_a_failed_input_leaves_no_empty_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    done = veille("analyze", str(bad), "--profile", "motion", "--out", "out", cwd=tmp_path)
    assert done.code == 1 and not (tmp_path / "out" / "bad").exists()
    _check_counts(tmp_path / "out")


def test_folder_names_without_running() -> None:
    videos = [Path("/v/a/cam.mp4"), Path("/v/b/cam.mp4"), Path("/v/a/cam.mkv"), Path("/v/a/x.mp4")]
    names = assign_folders(videos, Path("/nonexistent-out"))
    assert names == {
        videos[0]: "cam-a-mp4",
        videos[1]: "cam-b",
        videos[2]: "cam-mkv",
        videos[3]: "x",
    }
    kept = assign_folders(videos[:2], Path("/nonexistent-out"), {"/v/b/cam.mp4": "cam"})
    assert kept == {videos[0]: "cam-a", videos[1]: "cam"}
