"""When a recording started, which camera made it, and the --since/--until/--camera values of a search."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from veille.archive.filters import match_camera, parse_when
from veille.archive.videotime import camera_name, filename_time, video_start
from veille.errors import UsageError


def _local(*parts: int) -> float:
    return datetime(*parts).timestamp()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cam3_20240501_221500.mp4", (2024, 5, 1, 22, 15, 0)),
        ("192.168.1.64_01_20240501221500123.mp4", (2024, 5, 1, 22, 15, 0)),  # Hikvision, with milliseconds
        ("Front-2024-05-01_22-15-07.mkv", (2024, 5, 1, 22, 15, 7)),
        ("RecM03_20240501_221500_222000_6E1C2C10_1D2E3F.mp4", (2024, 5, 1, 22, 15, 0)),  # Reolink
        ("NVR_ch2_main_20231231235959.dav", (2023, 12, 31, 23, 59, 59)),
        ("garden 2024-05-01 22.15.00.mp4", (2024, 5, 1, 22, 15, 0)),
        ("20240501T221500.mp4", (2024, 5, 1, 22, 15, 0)),
    ],
)
def test_timestamps_of_camera_and_recorder_file_names(name: str, expected: tuple[int, ...]) -> None:
    assert filename_time(name) == _local(*expected)


@pytest.mark.parametrize("name", ["clip.mp4", "cam1_2024.mp4", "x_20241301_101010.mp4", "20240231_101010.mp4"])
def test_names_without_a_real_timestamp_have_none(name: str) -> None:
    assert filename_time(name) is None


def _video_with_creation_time(path: Path, tag: str | None) -> Path:
    import av

    with av.open(str(path), "w") as container:
        if tag:
            container.metadata["creation_time"] = tag
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_the_start_comes_from_the_container_then_the_name_then_the_mtime(tmp_path: Path) -> None:
    tagged = _video_with_creation_time(tmp_path / "cam1_20240501_221500.mp4", "2023-06-01T10:00:00.000000Z")
    start = video_start(tagged, 10.0)
    assert (start.ts, start.source) == (datetime(2023, 6, 1, 10, tzinfo=UTC).timestamp(), "container")
    clockless = _video_with_creation_time(tmp_path / "cam2_20240501_221500.mp4", "2000-01-01T00:00:00.000000Z")
    assert video_start(clockless, 10.0).source == "filename"  # a camera whose clock was never set
    plain = _video_with_creation_time(tmp_path / "plain.mp4", None)
    os.utime(plain, (1_700_000_100, 1_700_000_100))
    assert video_start(plain, 100.0) == type(start)(1_700_000_000.0, "mtime")  # written up to its end
    assert video_start(tmp_path / "gone.mp4", 5.0) == type(start)(None, None)
    assert video_start(tmp_path / "gone_20240501_221500.mp4", 5.0).source == "filename"  # the report outlived it


def test_camera_names() -> None:
    assert camera_name(Path("/nvr/cam3_20240501_221500.mp4")) == "cam3"
    assert camera_name(Path("/nvr/192.168.1.64_01_20240501221500123.mp4")) == "192.168.1.64_01"
    assert camera_name(Path("/exports/backyard/20240501_221500.mp4")) == "backyard"
    assert camera_name(Path("/exports/gate/clip.mp4")) == "gate"
    assert camera_name(Path("/exports/gate/cam3_20240501_221500.mp4"), "yard") == "yard"  # analyze --camera wins


NOW = datetime(2024, 5, 10, 15, 30)


@pytest.mark.parametrize(
    ("text", "option", "expected"),
    [
        ("2024-05-01", "--since", datetime(2024, 5, 1)),
        ("2024-05-01", "--until", datetime(2024, 5, 2)),  # a date alone: to its end
        ("2024-05-01 22:30", "--until", datetime(2024, 5, 1, 22, 30)),
        ("2024-05-01T22:30:00", "--since", datetime(2024, 5, 1, 22, 30)),
        ("12h", "--since", datetime(2024, 5, 10, 3, 30)),
        ("7d", "--since", datetime(2024, 5, 3, 15, 30)),
        ("30m", "--since", datetime(2024, 5, 10, 15, 0)),
        ("yesterday", "--since", datetime(2024, 5, 9)),
        ("yesterday", "--until", datetime(2024, 5, 10)),
        ("today", "--since", datetime(2024, 5, 10)),
    ],
)
def test_since_and_until_values(text: str, option: str, expected: datetime) -> None:
    assert parse_when(text, option, now=NOW) == expected.timestamp()


def test_a_zone_in_the_value_is_respected() -> None:
    assert parse_when("2024-05-01T22:30:00+02:00", now=NOW) == datetime(2024, 5, 1, 20, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text", ["last week", "2024-13-01", "12 parsecs", ""])
def test_bad_time_values_say_what_is_accepted(text: str) -> None:
    with pytest.raises(UsageError, match=r"--until .*2024-05-01.*12h"):
        parse_when(text, "--until", now=NOW)


def test_cameras_match_without_case_and_unknown_ones_are_listed() -> None:
    assert match_camera("CAM3", ["cam3", None, "gate"]) == "cam3"
    with pytest.raises(UsageError, match="unknown camera 'door'; the cameras in the index are: cam3, gate"):
        match_camera("door", ["gate", "cam3", None])


def test_the_results_table_shows_names_and_texts_as_they_are(capsys: pytest.CaptureFixture) -> None:
    from veille.archive.commands import print_hits
    from veille.archive.search import Hit

    hit = Hit("[red]cam[/]", 5.0, 9.0, "[bold]T[/]", "d", 1, 0.5, None, "[i]c[/]", None, 0, "/v.mp4")
    print_hits(Path("out"), [hit], tty=True)
    out = capsys.readouterr().out
    assert "[red]cam[/]" in out and "[bold]T[/]" in out and "[i]c[/]" in out and "00:05–00:09" in out
