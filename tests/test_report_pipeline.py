"""One analysis writes every output: JSON, HTML, Markdown, subtitles, thumbnails and clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
from click.testing import CliRunner

from veille.cli import cli
from veille.report.schema import Report

NAME = '<img src=x onerror=alert(1)>cam&1"'


def test_analyze_writes_everything_escaped(sample_clip, tmp_path: Path) -> None:
    video, _ = sample_clip
    hostile = tmp_path / f"{NAME}.mp4"
    shutil.copy(video, hostile)
    out = tmp_path / "out"
    args = ["analyze", str(hostile), "--profile", "motion", "--out", str(out), "--clips", "--lang", "fr"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1
    folder = folders[0]
    names = {p.name for p in folder.iterdir()}
    assert {"report.json", "report.html", "report.md", "events.srt", "events.vtt", "thumbs", "clips"} <= names
    report = Report.model_validate_json((folder / "report.json").read_text())
    assert report.events
    for event in report.events:
        assert event.keyframes and all((folder / k.image).is_file() for k in event.keyframes)
        assert event.clip and (folder / event.clip).is_file()
        with av.open(str(folder / event.clip)) as clip:
            assert sum(1 for _ in clip.decode(video=0)) > 10
        assert event.title.startswith("Mouvement")
    html = (folder / "report.html").read_text()
    assert NAME not in html and "&lt;img src=x onerror=alert(1)&gt;cam&amp;1" in html
    assert 'href="clips/event000.mp4"' in html and "Chronologie" in html
    md = (folder / "report.md").read_text()
    assert NAME not in md and '&lt;img src=x onerror=alert(1)>cam&1"' in md
    srt = (folder / "events.srt").read_text()
    assert srt.count(" --> ") == len(report.events) and "[normal] Mouvement" in srt
    assert "rapport: " in result.output and " avec du mouvement" in report.summary and "(s)" not in report.summary


def test_quiet_analysis_prints_nothing(sample_clip, tmp_path: Path) -> None:
    video, _ = sample_clip
    runner = CliRunner()
    result = runner.invoke(cli, ["analyze", str(video), "--profile", "motion", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0 and result.output == ""
    assert (tmp_path / "sample" / "report.html").is_file()
