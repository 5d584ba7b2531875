"""The bad-input matrix: every broken or unusual input gives a report with warnings or a one-line error.

The files are made here with PyAV/numpy (small, once per session) and driven through the real CLI
entry point (``veille.cli.main``), so the exit code and what reaches stderr are what a user sees.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.cli_run import in_process

W, H = 160, 120


def _frames(w: int, h: int, n: int):
    for i in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        x = (i * 7) % max(1, w - 24)
        img[h // 3 : h // 3 + max(8, h // 6), x : x + 24] = 230  # a bright block crossing the frame
        yield img


def write_clip(
    path: Path,
    *,
    w: int = W,
    h: int = H,
    n: int = 60,
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts_ms: list[int] | None = None,
    stream_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    rotation: int | None = None,
) -> Path:
    """A small clip with a moving block (custom pts in ms for variable frame rate)."""
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = {"preset": "ultrafast", **(stream_options or {})} if codec == "libx264" else {}
        if pts_ms is not None:
            stream.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, img in enumerate(_frames(w, h, n)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _zero_frames(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        out.start_encoding()
    return path


def _flip_bytes(src: Path, dst: Path, count: int) -> Path:
    data = bytearray(src.read_bytes())
    start = data.find(b"mdat") + 400
    for pos in np.random.default_rng(1).integers(start, len(data) - 200, count):
        data[pos] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="session")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every input of the matrix, made once."""
    d = tmp_path_factory.mktemp("bad")
    files: dict[str, Path] = {}
    files["good"] = write_clip(d / "good.mp4")
    files["zero_byte"] = d / "zero.mp4"
    files["zero_byte"].write_bytes(b"")
    files["text"] = d / "notes.mp4"
    files["text"].write_text("this is a text file, not a video\n" * 20)
    files["random"] = d / "random.mp4"
    files["random"].write_bytes(np.random.default_rng(0).bytes(64_000))
    moov_last = files["good"].read_bytes()  # libx264 → mp4 writes the index (moov) at the end
    assert moov_last.find(b"moov") > moov_last.find(b"mdat")
    files["no_index"] = d / "no_index.mp4"
    files["no_index"].write_bytes(moov_last[: moov_last.find(b"moov") - 500])
    faststart = write_clip(d / "faststart.mp4", n=100, container_options={"movflags": "+faststart"})
    data = faststart.read_bytes()
    files["cut_mid"] = d / "cut_mid.mp4"
    files["cut_mid"].write_bytes(data[: int(len(data) * 0.55)])
    src = write_clip(d / "gop.mp4", n=100, stream_options={"g": "10"}, container_options={"movflags": "+faststart"})
    files["corrupt"] = _flip_bytes(src, d / "corrupt.mp4", 200)
    files["audio"] = _audio_only(d / "voice.m4a")
    files["jpg"] = d / "still.jpg"
    cv2.imwrite(str(files["jpg"]), np.zeros((64, 64, 3), np.uint8))
    files["png"] = d / "still.png"
    cv2.imwrite(str(files["png"]), np.zeros((64, 64, 3), np.uint8))
    files["zero_frames"] = _zero_frames(d / "empty.mp4")
    files["8k"] = write_clip(d / "huge.mp4", w=7680, h=4320, n=2)
    files["odd_ffv1"] = write_clip(d / "odd.mkv", w=321, h=243, n=30, codec="ffv1", pix_fmt="yuv444p")
    files["odd_mjpeg"] = write_clip(d / "odd.avi", w=321, h=243, n=30, codec="mjpeg", pix_fmt="yuvj444p")
    gaps = np.random.default_rng(2).integers(20, 300, 60)
    files["vfr"] = write_clip(d / "vfr.mkv", pts_ms=np.concatenate([[0], np.cumsum(gaps)[:-1]]).tolist())
    files["rotated"] = write_clip(d / "phone.mp4", rotation=90)
    unknown = (d / "odd.avi").read_bytes().replace(b"MJPG", b"ZZZ9")  # a codec tag no decoder knows
    files["codec"] = d / "unknown_codec.avi"
    files["codec"].write_bytes(unknown)
    return files


@pytest.fixture
def veille(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str | Path, out: Path | None = None) -> tuple[int, str, str]:
        argv = ["analyze", *map(str, args), "--profile", "motion", "--out", str(out or tmp_path / "out")]
        return in_process(capsys, argv)

    return run


def _error_line(err: str) -> str:
    """The one error line for a single failing input (the closing summary repeats it)."""
    lines = [line for line in err.splitlines() if line.startswith("veille: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _report(out: Path, name: str) -> dict:
    return json.loads((out / name / "report.json").read_text())


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("zero_byte", "empty (0 bytes)"),
        ("text", "not a readable video"),
        ("random", "not a readable video"),
        ("no_index", "has no index"),
        ("audio", "only audio"),
        ("jpg", "still image"),
        ("png", "still image"),
        ("zero_frames", "no video frames"),
        ("codec", "cannot decode"),
    ],
)
def test_unusable_file_is_one_line_error(bad, veille, tmp_path: Path, case: str, expected: str) -> None:
    code, _, err = veille(bad[case])
    assert code == 1, err
    line = _error_line(err)
    assert expected in line and str(bad[case]) in line
    assert "; " in line, "the message says what to do next"
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [v["status"] for v in index["videos"]] == ["failed"]


def test_missing_path(veille, tmp_path: Path) -> None:
    code, _, err = veille(tmp_path / "nope.mp4")
    assert code == 1 and "does not exist" in _error_line(err)


def test_folder_without_videos(veille, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("x")
    code, _, err = veille(tmp_path / "docs")
    assert code == 1 and "holds no video files" in _error_line(err)


def test_truncated_in_the_middle_gives_partial_report_with_warning(bad, veille, tmp_path: Path) -> None:
    code, _, err = veille(bad["cut_mid"])
    assert code == 0, err
    report = _report(tmp_path / "out", "cut_mid")
    assert any("truncated" in w for w in report["warnings"]), report["warnings"]
    assert "truncated" in err  # the warning is shown too
    assert report["stats"]["packets_scanned"] > 0  # what was there was read


def test_corrupt_packets_are_skipped_with_warning(bad, veille, tmp_path: Path) -> None:
    code, _, err = veille(bad["corrupt"])
    assert code == 0, err
    report = _report(tmp_path / "out", "corrupt")
    assert report["stats"]["frames_decoded"] > 0
    assert any("damaged packet" in w for w in report["warnings"]), report["warnings"]


@pytest.mark.parametrize(("case", "size"), [("8k", (7680, 4320)), ("odd_ffv1", (321, 243)), ("odd_mjpeg", (321, 243))])
def test_unusual_sizes_are_analysed(bad, veille, tmp_path: Path, case: str, size: tuple[int, int]) -> None:
    code, _, err = veille(bad[case])
    assert code == 0, err
    report = _report(tmp_path / "out", bad[case].stem)
    assert (report["video"]["width"], report["video"]["height"]) == size
    assert report["stats"]["frames_decoded"] > 0
    for event in report["events"]:
        for keyframe in event["keyframes"]:
            image = cv2.imread(str(tmp_path / "out" / bad[case].stem / keyframe["image"]))
            assert image is not None and max(image.shape[:2]) <= 960  # thumbnails are bounded


def test_variable_frame_rate_uses_real_timestamps(bad, veille, tmp_path: Path) -> None:
    code, _, err = veille(bad["vfr"])
    assert code == 0, err
    report = _report(tmp_path / "out", "vfr")
    with av.open(str(bad["vfr"])) as container:
        stream = container.streams.video[0]
        last = max(float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None)
    assert report["video"]["duration_s"] == pytest.approx(last, abs=0.5)
    assert report["segments"], "the moving block was not found"
    assert max(s["end_s"] for s in report["segments"]) <= report["video"]["duration_s"] + 1.5
    assert max(s["end_s"] for s in report["segments"]) > 0.5 * last  # times follow pts, not frame count / fps


def test_rotated_phone_video(bad, veille, tmp_path: Path) -> None:
    code, _, err = veille(bad["rotated"])
    assert code == 0, err
    report = _report(tmp_path / "out", "phone")
    assert report["complete"] is True and report["stats"]["frames_decoded"] > 0
    # stored W x H, shown turned 90° counter-clockwise: the report gives the upright size
    assert (report["video"]["width"], report["video"]["height"], report["video"]["rotation"]) == (H, W, 270)


def test_no_read_permission(bad, veille, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "locked.mp4"
    target.write_bytes(bad["good"].read_bytes())
    target.chmod(0)
    if os.geteuid() == 0:  # root reads anything: simulate what the OS would say to a user
        import veille.video.probe as probe_module

        def denied(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(probe_module.av, "open", denied)
    code, _, err = veille(target)
    assert code == 1 and "permission denied" in _error_line(err)


def test_output_folder_not_writable(bad, veille, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import veille.io as io_module

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(io_module.tempfile, "mkstemp", denied)
    code, _, err = veille(bad["good"])
    assert code == 1
    assert "(permission denied); choose a writable --out folder" in _error_line(err.replace("\n  ", " "))
    assert not (tmp_path / "out" / "good" / "report.json").exists()


def test_output_path_is_a_file(bad, veille, tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    code, _, err = veille(bad["good"], out=blocker)
    assert code == 1 and "--out" in err
    assert blocker.read_text() == "not a folder"


def test_disk_full_keeps_previous_report(bad, veille, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = veille(bad["good"])
    assert code == 0, err
    folder = tmp_path / "out" / "good"
    before = (folder / "report.json").read_text()
    import veille.io as io_module

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_module.os, "fsync", full)
    code, _, err = veille(bad["good"])
    assert code == 1
    assert "disk full" in err and "free some space" in err
    assert (folder / "report.json").read_text() == before, "the earlier report was damaged"
    assert not [p for p in folder.rglob("*.tmp")], "temporary files were left behind"
