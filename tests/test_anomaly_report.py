"""``veille analyze --camera``: the anomaly curve in report.json, events ranked by it everywhere, the judge told."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.anomaly_clips import BOTTOM, FPS, TOP, Mover, draw_movers, usual, write_clip
from tests.cli_run import in_process
from veille.analysis.engine import run_models
from veille.analysis.prompts import JudgeItem, judge_prompt
from veille.backends.fake import FakeBackend
from veille.progress import NullProgress
from veille.report.html import render_html
from veille.report.schema import Report, ReportAnomaly, ReportEvent, VideoMeta, json_schema
from veille.report.text import render_markdown
from veille.settings import Settings
from veille.video.synth import Stretch, scene, write_video

PLAIN = [Mover(TOP, 8, 10, 1.5, 0, 11), Mover(BOTTOM, 24, 30, 1.5, 0, 12)]  # entering from the left
FAST = [*PLAIN, Mover(TOP, 8, 10, 3.0, 0, 15)]


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Calibration footage of the camera, and a video: quiet, usual traffic, quiet, a fast box too, quiet."""
    folder = tmp_path_factory.mktemp("anomaly-report")
    background = scene(160, 120)
    video = folder / "street.mp4"
    stretches = [
        Stretch(60),
        Stretch(80, draw_movers(background, PLAIN), True),
        Stretch(100),
        Stretch(80, draw_movers(background, FAST), True),
        Stretch(60),
    ]
    write_video(video, stretches, background, fps=FPS)
    return {
        "day1": write_clip(folder / "day1.mp4", usual(), 20, seed=1),
        "day2": write_clip(folder / "day2.mp4", usual(), 20, seed=2),
        "video": video,
    }


@pytest.fixture
def veille(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(*args: str | Path) -> tuple[int, str, str]:
        return in_process(capsys, [str(a) for a in args])

    return run


@pytest.fixture
def cams(veille, scene_files, tmp_path: Path) -> Path:
    folder = tmp_path / "cams"
    days = (scene_files["day1"], scene_files["day2"])
    code, _, err = veille("calibrate", *days, "--camera", "street", "--cameras-dir", folder)
    assert code == 0, err
    return folder


def _analyze(veille, video: Path, out: Path, *extra: str | Path) -> tuple[int, str, str, dict]:
    code, stdout, err = veille("analyze", video, "--profile", "motion", "--out", out, *extra)
    path = out / video.stem / "report.json"
    return code, stdout, err, json.loads(path.read_text()) if path.exists() else {}


def test_analyze_with_camera_ranks_events_by_how_unusual(veille, scene_files, cams, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err, report = _analyze(veille, scene_files["video"], out, "--camera", "street", "--cameras-dir", cams)
    assert code == 0, err
    anomaly = report["anomaly"]
    assert anomaly["camera"] == "street" and anomaly["threshold"] > 0 and anomaly["self_calibrated"] is False
    times = [t for t, _ in anomaly["curve"]]
    assert times == sorted(set(times)) and all(s >= 0 for _, s in anomaly["curve"])
    events = report["events"]
    assert len(events) == 2 and events[0]["start_s"] < events[1]["start_s"]  # report.json stays in time order
    plain, fast = events
    for event in events:  # the curve has points wherever the scan reports activity
        assert any(event["start_s"] <= t <= event["end_s"] for t in times)
    assert not any(15.0 < t < 21.0 for t in times[1:-1] if t not in (plain["end_s"],))  # quiet: skipped
    assert fast["anomaly_score"] > anomaly["threshold"] >= plain["anomaly_score"]
    assert "faster than usual here (top" in fast["anomaly_reason"]
    assert plain["anomaly_reason"] == "usual movement for this camera"
    html = (out / "street" / "report.html").read_text()
    assert html.index(f'id="event-{fast["id"]}"') < html.index(f'id="event-{plain["id"]}"')
    assert re.search(r'<svg class="curve"[^>]*><line [^>]*/><polyline points="[\d., ]+"/></svg>', html)
    assert "Most unusual for camera &#39;street&#39; first" in html and 'class="unusual"' in html
    md = (out / "street" / "report.md").read_text()
    assert md.index("faster than usual here") < md.index("usual movement for this camera")
    lines = [line for line in stdout.splitlines() if "–" in line]
    assert "faster than usual" in lines[0] and "usual movement" in lines[1]


def test_without_a_camera_nothing_changes(veille, scene_files, tmp_path: Path) -> None:
    code, stdout, err, report = _analyze(veille, scene_files["video"], tmp_path / "out")
    assert code == 0, err
    assert "anomaly" not in report
    assert all("anomaly_score" not in e and "anomaly_reason" not in e for e in report["events"])
    html = (tmp_path / "out" / "street" / "report.html").read_text()
    assert 'class="curve"' not in html and "Most unusual" not in html and "unusual" not in stdout


def test_camera_self_learns_from_the_video(veille, scene_files, tmp_path: Path, monkeypatch) -> None:
    code, _, err, _ = _analyze(veille, scene_files["video"], tmp_path / "short", "--camera", "self")
    assert code == 1 and "needs at least 30 min of it (this one is 0.6 min)" in err
    assert not (tmp_path / "short" / "street").exists()
    monkeypatch.setattr("veille.anomaly.analysis.SELF_MIN_S", 30.0)
    code, _, err, report = _analyze(veille, scene_files["video"], tmp_path / "self", "--camera", "self")
    assert code == 0, err
    assert report["anomaly"]["self_calibrated"] is True and report["anomaly"]["curve"]
    assert all(e["anomaly_score"] is not None for e in report["events"])


def test_bad_camera_for_analyze_is_one_line(veille, scene_files, cams, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err, _ = _analyze(veille, scene_files["video"], out, "--camera", "yard", "--cameras-dir", cams)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "no camera named 'yard'" in lines[0] and "(known: street)" in lines[0]
    wide = tmp_path / "wide.mp4"
    write_video(wide, [Stretch(40)], scene(192, 108))
    code, _, err, _ = _analyze(veille, wide, out, "--camera", "street", "--cameras-dir", cams)
    assert code == 1 and "the video is 192x108 but camera 'street' was calibrated on 160x120 footage" in err
    assert not (out / "wide").exists()


def test_judge_prompt_carries_the_camera_facts() -> None:
    fact = "unusual for this camera: moving about 3× faster than usual here (score 3.1; usual up to 2.2)"
    prompt = judge_prompt([JudgeItem(1, 0, 10, "A cyclist rides along the path.", fact), JudgeItem(2, 10, 20, "x")])
    assert f"[1] 0:00:00-0:00:10: A cyclist rides along the path. Camera facts: {fact}." in prompt
    assert "ordinary footage of this camera" in prompt and "[2] 0:00:10-0:00:20: x\n" in prompt
    assert "Camera facts" not in judge_prompt([JudgeItem(1, 0, 10, "A cyclist.")])


def test_engine_hands_the_facts_to_the_judge_and_keeps_verdicts_apart(tmp_path: Path) -> None:
    from tests.test_analysis import INFO, DictMemo, chunk, fake_session

    llm = FakeBackend("llm", default=lambda p: "[0] | 1 | 0.8 | Fast cyclist" if "Scenes:" in p else "A cyclist.")
    session = fake_session(tmp_path, describer=FakeBackend("vlm", default="A cyclist rides fast."), reasoner=llm)
    memo = DictMemo()
    run_models(INFO, [chunk(0)], Settings(), session, progress=NullProgress(), memo=memo)
    assert "Camera facts" not in llm.history[0].prompt
    calls = len(llm.history)
    facts = lambda start, end: f"unusual for this camera: moving fast ({start:.0f}-{end:.0f} s)"  # noqa: E731
    run_models(INFO, [chunk(0)], Settings(), session, progress=NullProgress(), memo=memo, facts=facts)
    judged = [c.prompt for c in llm.history[calls:] if "Scenes:" in c.prompt]
    assert judged and "Camera facts: unusual for this camera: moving fast (0-10 s)." in judged[0]


def test_anomaly_strings_are_escaped_in_html_and_markdown() -> None:
    evil = '<script>alert("x")</script> **bold** [link](javascript:x)'
    event = ReportEvent(
        id=0, start_s=0, end_s=5, title="t", description="d", threat_level=0, confidence=0.5, source="motion",
        anomaly_score=3.0, anomaly_reason=evil,
    )  # fmt: skip
    report = Report(
        video=VideoMeta(path="v.mp4", duration_s=10, fps=10, width=160, height=120, frame_count=100, codec="h264"),
        events=[event],
        anomaly=ReportAnomaly(camera="<b>cam</b>", threshold=2.0, curve=[(0.0, 0.0), (5.0, 3.0), (10.0, 0.0)]),
    )
    html = render_html(report)
    assert "<script>alert" not in html and "<b>cam</b>" not in html and "&lt;script&gt;" in html
    md = render_markdown(report)
    assert "<script>" not in md and "\\*\\*bold\\*\\*" in md and "\\[link\\]" in md
    assert json.loads(report.model_dump_json())["anomaly"]["curve"][1] == [5.0, 3.0]
    schema = json_schema()
    assert "anomaly" in schema["properties"] and "anomaly_score" in schema["$defs"]["ReportEvent"]["properties"]
    assert Report.model_validate_json(report.model_dump_json()).schema_version == 1


def test_a_camera_added_later_reuses_the_scan(veille, scene_files, cams, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err, plain = _analyze(veille, scene_files["video"], out)
    assert code == 0 and plain["stats"]["reused_chunks"] == 0, err
    code, _, err, ranked = _analyze(veille, scene_files["video"], out, "--camera", "street", "--cameras-dir", cams)
    assert code == 0, err
    assert ranked["stats"]["reused_chunks"] > 0 and ranked["anomaly"]["curve"]


def test_camera_curve_after_ctrl_c_and_rerun_is_the_uninterrupted_one(
    veille, scene_files, cams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The curve needs every segment: a partial report has none; the rerun that resumes the scan
    scores the same curve as a run that was never interrupted."""
    import veille.pipeline as pipeline
    from veille.report.thumbs import Thumbnails

    camera = ("--camera", "street", "--cameras-dir", cams)
    code, _, err, whole = _analyze(veille, scene_files["video"], tmp_path / "whole", *camera)
    assert code == 0, err
    monkeypatch.setattr(pipeline, "CHECKPOINT_EVERY_S", 0.0)
    real_keep = Thumbnails.keep

    def interrupt_once(self: Thumbnails, chunk: object) -> object:
        monkeypatch.setattr(Thumbnails, "keep", real_keep)
        raise KeyboardInterrupt

    monkeypatch.setattr(Thumbnails, "keep", interrupt_once)
    out = tmp_path / "out"
    code, _, err, partial = _analyze(veille, scene_files["video"], out, *camera)
    assert code == 130 and partial["complete"] is False and "anomaly" not in partial, err
    code, _, err, final = _analyze(veille, scene_files["video"], out, *camera)
    assert code == 0, err
    assert final["stats"]["scan_resumed_at_s"] is not None, "the rerun went on from the saved scan"
    assert final["anomaly"] == whole["anomaly"] and final["anomaly"]["curve"]
    scores = [(e["start_s"], e["anomaly_score"], e["anomaly_reason"]) for e in final["events"]]
    assert scores == [(e["start_s"], e["anomaly_score"], e["anomaly_reason"]) for e in whole["events"]]


def test_streamed_analysis_tells_the_judge_the_camera_facts(scene_files, cams, tmp_path: Path) -> None:
    """With models, the chunks stream through the describer and the judge hears, per chunk, how usual its
    movement is for the camera (scored once the scan is over)."""
    from tests.test_analysis import fake_session
    from veille.pipeline import analyze

    llm = FakeBackend("llm", default=lambda p: "\n".join(f"[{i}] | 0 | 0.8 | Traffic" for i in range(9)))
    vlm = FakeBackend("vlm", default="Boxes move along the road.")
    settings = Settings(out_dir=tmp_path / "out", camera="street", cameras_dir=cams)
    with fake_session(tmp_path, describer=vlm, reasoner=llm) as session:
        result = analyze(scene_files["video"], settings, models=session)
    judged = "\n".join(c.prompt for c in llm.history if "Scenes:" in c.prompt)
    assert vlm.history and "Camera facts: usual for this camera" in judged
    assert "Camera facts: unusual for this camera: moving about" in judged
    assert result.report.anomaly is not None and all(e.anomaly_score is not None for e in result.report.events)
