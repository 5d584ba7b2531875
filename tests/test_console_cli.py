"""What a person sees running the CLI: one line per error, n/N and a closing summary in a batch, a
headline that fits a 120-column terminal, labelled progress times, real plurals, progress for `sample`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli_run import veille, veille_tty
from tests.test_badinput import write_clip

_BARE_CLOCK_AT_END = re.compile(r"\d:\d\d:\d\d\s*$")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", n=40)


def test_one_failed_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    done = veille("analyze", str(bad), "--profile", "motion", cwd=tmp_path)
    assert done.code == 1
    assert done.err.count("\n") == 1 and done.err.startswith(f"veille: error: {bad} ")
    assert done.err.count("bad.mp4") == 1
    assert "Traceback" not in done.err


def test_batch_numbers_videos_and_closes_with_a_summary(clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    done = veille("analyze", str(clip), str(bad), "--profile", "motion", "--out", "out", cwd=tmp_path)
    assert done.code == 1
    lines = done.out.splitlines()
    assert lines[0].startswith(f"[1/2] {clip}: ") and lines[0].endswith(" in 00:04")
    assert lines[-1] == f"2 videos: 1 analysed, 1 failed · index: {Path('out') / 'index.html'}"
    errors = done.err.splitlines()
    assert errors[0].startswith(f"veille: error: [2/2] {bad} ") and errors[0].count("bad.mp4") == 1
    reason = errors[0].split(f"{bad} ", 1)[1]
    assert done.err.count(reason) == 1  # the reason is said once
    assert errors[-1] == f"veille: 1 of 2 inputs failed: {bad}"
    assert "(s)" not in done.out + done.err


def test_terminal_headline_fits_and_times_are_labelled(clip: Path, tmp_path: Path) -> None:
    video = Path("camera_recordings_of_the_back_door_of_the_bakery") / "monday_morning_from_six_to_seven.mp4"
    (tmp_path / video.parent).mkdir()
    shutil.copy(clip, tmp_path / video)
    done = veille_tty("analyze", str(video), "--profile", "motion", "--out", "out", cwd=tmp_path, columns=120)
    assert done.code == 0, done.out
    headline = f"{video}: "
    assert 80 < len(headline + "1 event in 00:04") < 120
    assert any(line.startswith(headline) and line.rstrip().endswith(" in 00:04") for line in done.out.splitlines())
    scan = [line for line in done.out.splitlines() if "Scanning" in line]
    assert scan and all(not _BARE_CLOCK_AT_END.search(line) for line in scan) and "took " in scan[-1]
    assert "(s)" not in done.out


def test_french_plurals_on_the_console_and_in_the_report(clip: Path, tmp_path: Path) -> None:
    done = veille("analyze", str(clip), "--profile", "motion", "--out", "out", "--lang", "fr", cwd=tmp_path)
    assert done.code == 0, done.err
    assert re.search(r": \d+ événements? en 00:04", done.out) and "(s)" not in done.out
    md = (tmp_path / "out" / "cam" / "report.md").read_text()
    html = (tmp_path / "out" / "cam" / "report.html").read_text()
    assert "(s)" not in md and "(s)" not in html and "passage" in md


def test_sample_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    done = veille_tty("sample", "s.mp4", "--seconds", "6", cwd=tmp_path)
    assert done.code == 0, done.out
    bar = [line for line in done.out.splitlines() if "Making s.mp4" in line]
    assert bar and "00:06/00:06" in bar[-1] and "took " in bar[-1]
    assert "(0 active intervals)" in done.out
