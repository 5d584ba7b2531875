"""Recordings cut off before they were finalised: say what happened, and report only what is there.

The files are complete synthetic clips cut in half, byte for byte, as a recorder that loses power
leaves them: an MP4 whose index (``moov``) came last loses it; a "faststart" MP4 keeps an index
pointing past the end; an MKV keeps a header duration it no longer holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from tests.test_badinput import write_clip
from veille.cli import main
from veille.video.atoms import index_missing
from veille.video.probe import probe

N, FPS = 100, 10  # 10 s, a block moving all the way through


def _cut(src: Path, dst: Path, share: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cut")
    out = {
        "moov_last": write_clip(d / "moov_last.mp4", n=N, fps=FPS),
        "faststart": write_clip(d / "faststart.mp4", n=N, fps=FPS, container_options={"movflags": "+faststart"}),
        "mkv": write_clip(d / "whole.mkv", n=N, fps=FPS),
    }
    out["moov_last_cut"] = _cut(out["moov_last"], d / "camera.mp4")
    out["faststart_cut"] = _cut(out["faststart"], d / "faststart_cut.mp4")
    out["mkv_cut"] = _cut(out["mkv"], d / "cut.mkv")
    out["random"] = d / "random.mp4"
    out["random"].write_bytes(np.random.default_rng(0).bytes(20_000))
    return out


def _last_packet_end(path: Path) -> float:
    """Where the video really stops: the end of the last packet PyAV can demux."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ends = [(p.pts + (p.duration or 0)) * stream.time_base for p in container.demux(stream) if p.pts is not None]
    return float(max(ends))


def _analyze(path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    try:
        main(["analyze", str(path), "--profile", "motion", "--out", str(out)])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    report_file = out / path.stem / "report.json"
    return code, json.loads(report_file.read_text()) if report_file.exists() else {}, err


def test_index_missing_is_told_from_the_top_level_boxes(files: dict[str, Path]) -> None:
    assert index_missing(files["moov_last_cut"])
    for name in ("moov_last", "faststart", "faststart_cut", "mkv", "mkv_cut", "random"):
        assert not index_missing(files[name]), name


def test_mp4_without_its_index_says_what_happened_and_what_to_do(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _analyze(files["moov_last_cut"], tmp_path, capsys)
    assert code == 1
    line = next(line for line in err.splitlines() if line.startswith("veille: error:"))
    assert "has no index" in line and "cut off before it is finalised" in line
    assert "untrunc" in line and "export it again" in line
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["faststart_cut", "mkv_cut"])
def test_truncated_file_reports_what_is_there(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = files[name]
    stops_at = _last_packet_end(path)
    with av.open(str(path)) as container:
        header = container.duration / av.time_base
    assert header - stops_at > 2.0, "the cut file should still claim its whole duration"
    code, report, err = _analyze(path, tmp_path, capsys)
    assert code == 0, err
    video = report["video"]
    assert video["duration_s"] == pytest.approx(stops_at, abs=0.25)
    assert video["declared_duration_s"] == pytest.approx(header, abs=0.01)
    assert video["frame_count"] <= round(stops_at * FPS) + 1
    assert report["events"], "the block moving up to the cut was not found"
    ends = [e["end_s"] for e in report["events"]] + [s["end_s"] for s in report["segments"]]
    assert max(ends) <= video["duration_s"], "an event ends after the video does"
    warning = next(w for w in report["warnings"] if "truncated" in w)
    assert f"{video['duration_s']:.1f} s" in warning and f"{header:.1f} s" in warning
    assert "truncated" in err  # shown too


def test_whole_files_get_no_truncation_warning(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    for name in ("faststart", "mkv"):
        code, report, err = _analyze(files[name], tmp_path, capsys)
        assert code == 0, err
        assert not any("truncated" in w for w in report["warnings"]), report["warnings"]
        assert report["video"]["declared_duration_s"] is None
        assert report["video"]["duration_s"] == pytest.approx(N / FPS, abs=0.15)


def test_probe_of_a_cut_faststart_mp4_counts_only_the_frames_there(files: dict[str, Path]) -> None:
    info = probe(files["faststart_cut"])
    with av.open(str(files["faststart_cut"])) as container:
        stream = container.streams.video[0]
        frames = sum(1 for p in container.demux(stream) if p.size)
    assert abs(info.frame_count - frames) <= 1  # the last packet may be there in part
    assert info.frame_count < N / 2
    assert info.declared_duration_s == pytest.approx(N / FPS)


def test_a_resumed_run_still_knows_where_the_video_stops(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _analyze(files["mkv_cut"], tmp_path, capsys)[1]
    code, again, err = _analyze(files["mkv_cut"], tmp_path, capsys)  # the scan comes from the work cache
    assert code == 0, err
    assert again["video"] == first["video"] and again["video"]["declared_duration_s"] is not None
    assert any("truncated" in w for w in again["warnings"])
