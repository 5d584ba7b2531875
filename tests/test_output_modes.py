"""Every file veille writes gets the mode a plain write would: readable by others where the umask allows."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.cli_run import veille
from veille.io import current_umask, new_file_mode, write_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _written(out: Path) -> list[Path]:
    """The reports, subtitles, thumbnails and index files under ``out`` (not the work cache)."""
    return [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640)])
def test_cli_outputs_follow_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    made = veille("sample", "clip.mp4", "--seconds", "12", cwd=tmp_path, umask=umask)
    assert made.code == 0, made.err
    assert _mode(tmp_path / "clip.json") == expected
    done = veille("analyze", "clip.mp4", "--profile", "motion", "--out", "out", "-q", cwd=tmp_path, umask=umask)
    assert done.code == 0, done.err
    files = _written(tmp_path / "out")
    names = {p.name for p in files}
    assert {"index.json", "index.html", "report.json", "report.html", "report.md", "events.srt", "events.vtt"} <= names
    assert any(p.suffix == ".jpg" for p in files), "no thumbnail was written"
    assert {p.relative_to(tmp_path).as_posix(): oct(_mode(p)) for p in files if _mode(p) != expected} == {}


def test_umask_is_read_without_being_changed(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027 and new_file_mode() == 0o640
        assert current_umask() == 0o027  # reading it left it as it was
        write_text(tmp_path / "a.txt", "x")
        assert _mode(tmp_path / "a.txt") == 0o640
        (tmp_path / "b.txt").write_text("x")
        assert _mode(tmp_path / "b.txt") == _mode(tmp_path / "a.txt")  # as a plain write
    finally:
        os.umask(old)
