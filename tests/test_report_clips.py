"""Clips around events: stream copy from a nearby keyframe, re-encode otherwise."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from veille.report.clips import add_clips, keyframe_times, plan_clip
from veille.report.schema import Report, ReportEvent, VideoMeta

KEYS = [0.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("start", "codec", "lead", "expected"),
    [
        (4.0, "h264", 3.0, ("copy", 4.0)),  # on a keyframe
        (5.5, "h264", 3.0, ("copy", 4.0)),  # 1.5 s after one
        (5.5, "h264", 1.0, ("encode", 5.5)),  # too far from the keyframe before
        (5.5, "mjpeg", 3.0, ("encode", 5.5)),  # MP4 cannot hold it as is
        (0.0, "hevc", 0.0, ("copy", 0.0)),
    ],
)
def test_plan_clip(start: float, codec: str, lead: float, expected: tuple[str, float]) -> None:
    assert plan_clip(start, start + 5, KEYS, codec=codec, max_lead_s=lead) == expected


def _report(video: Path) -> Report:
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        meta = VideoMeta(
            path=str(video),
            duration_s=float(c.duration / 1e6),
            fps=float(s.average_rate),
            width=s.width,
            height=s.height,
            frame_count=s.frames,
            codec=s.codec_context.name,
        )
    event = ReportEvent(
        id=3, start_s=7.3, end_s=11.0, title="t", description="d", threat_level=1, confidence=0.5, source="motion"
    )
    return Report(video=meta, events=[event])


def _frames(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as c:
        frames = [f.time for f in c.decode(video=0)]
    return len(frames), frames[0]


@pytest.mark.parametrize(("lead", "mode"), [(3.0, "copy"), (0.0, "encode")])
def test_add_clips(sample_clip, tmp_path: Path, lead: float, mode: str) -> None:
    video, _ = sample_clip
    report = _report(video)
    keys = keyframe_times(video)
    assert keys[0] == 0.0 and len(keys) >= 5
    updated, clips, warnings = add_clips(report, video, tmp_path, max_lead_s=lead)
    assert not warnings and len(clips) == 1
    clip = clips[0]
    assert clip.mode == mode and updated.events[0].clip == "clips/event003.mp4" == clip.path
    assert report.events[0].clip is None  # the original report is unchanged
    count, first = _frames(tmp_path / clip.path)
    fps = report.video.fps
    expected = (clip.end_s - clip.start_s) * fps
    assert abs(count - expected) <= 4, (count, expected)  # copy ends on decode order: B-frames add a few
    assert first == pytest.approx(0.0, abs=0.1)
    if mode == "copy":
        assert clip.start_s in keys and 5.3 - lead <= clip.start_s <= 5.3
    else:
        assert clip.start_s == pytest.approx(5.3)
    assert not list(tmp_path.glob("clips/.*"))  # no temporary file left


def test_unreadable_video_gives_warning_not_crash(sample_clip, tmp_path: Path) -> None:
    video, _ = sample_clip
    report = _report(video)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(video.read_bytes()[:4000])
    bad = report.model_copy(update={"video": report.video.model_copy(update={"path": str(broken)})})
    try:
        updated, clips, warnings = add_clips(bad, broken, tmp_path / "out")
    except av.FFmpegError:
        pytest.fail("a broken video must give a warning, not an exception")
    assert not clips and warnings and updated.events[0].clip is None
    assert warnings[0] in updated.warnings
