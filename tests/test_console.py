"""The console: plain lines off a terminal, rich bars and a table on one, nothing but errors when quiet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.report_samples import HOSTILE_TITLE, TITLES, hostile_report
from veille.console import Console, _PlainProgress, _RichProgress
from veille.pipeline import AnalysisResult


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    folder = tmp_path_factory.mktemp("console")
    report = hostile_report(folder)
    return AnalysisResult(report, folder, [folder / "report.json", folder / "report.html"])


def _console(**kwargs) -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(out=out, err=err, **kwargs), out, err


def test_plain_result_lines(result: AnalysisResult) -> None:
    console, out, err = _console(tty=False)
    console.result(result)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": 3 events in 02:00")
    assert lines[1] == "  00:05–00:17  [normal]  Person tries the back door"
    assert lines[2] == f"  00:40–00:52  [critical]  {HOSTILE_TITLE}"
    assert lines[-2:] == [f"report: {result.folder / 'report.html'}", f"report: {result.folder / 'report.json'}"]
    assert "\x1b[" not in out.getvalue() and not err.getvalue()


def test_plain_result_in_french(result: AnalysisResult) -> None:
    console, out, _ = _console(tty=False, lang="fr")
    console.result(result)
    text = out.getvalue()
    assert "3 événements en 02:00" in text and "[critique]" in text and "rapport: " in text


def test_quiet_prints_only_errors(result: AnalysisResult) -> None:
    for tty in (False, True):
        console, out, err = _console(tty=tty, quiet=True)
        progress = console.progress()
        progress.start("scan", 10, unit="s")
        progress.update("scan", 5)
        progress.warn("something odd")
        progress.finish("scan")
        console.info("detail")
        console.warn("careful")
        console.result(result)
        assert out.getvalue() == "" and err.getvalue() == ""
        console.error("it broke")
        assert err.getvalue() == "veille: error: it broke\n"


def test_terminal_table_prints_model_text_literally(result: AnalysisResult) -> None:
    console, out, _ = _console(tty=True)
    console.result(result)
    text = out.getvalue()
    assert "\x1b[" in text  # styled for a terminal
    for title in TITLES[::2]:
        assert title in text
    assert "[bold red]boom[/]" in text  # rich markup in model output is not interpreted
    assert "critical" in text and "report.html" in text


def test_terminal_progress_bars() -> None:
    console, out, err = _console(tty=True)
    progress = console.progress()
    assert isinstance(progress, _RichProgress)
    progress.start("scan", 90.0, unit="s")
    progress.update("scan", 45.0)
    progress.start("download model.safetensors", 2e9, unit="B")
    progress.update("download model.safetensors", 1e9)
    progress.warn("[red]odd[/red] thing")
    progress.finish("download model.safetensors")
    assert progress.live  # the scan is still open
    progress.finish("scan")
    assert not progress.live
    progress.start("describe", 3)
    progress.update("describe", 3)
    progress.finish("describe")
    text = err.getvalue()
    assert "Scanning" in text and "01:30/01:30" in text and "Describing" in text and "3/3" in text
    assert "1.0 GB/2.0 GB" in text or "2.0 GB/2.0 GB" in text
    assert "veille: warning: [red]odd[/red] thing" in text
    assert out.getvalue() == ""


def test_plain_progress_off_terminal() -> None:
    console, _, err = _console(tty=False, verbose=True, lang="fr")
    progress = console.progress()
    assert isinstance(progress, _PlainProgress)
    progress.start("scan", 10, unit="s")
    progress.update("scan", 5)
    progress.finish("scan")
    progress.warn("odd")
    assert err.getvalue().splitlines() == ["Parcours…", "veille: warning: odd"]


def test_batch_summary(tmp_path: Path) -> None:
    console, out, err = _console(tty=False)
    console.batch_summary(5, ["b.mp4", "c.mkv"], tmp_path / "index.html")
    assert out.getvalue() == f"5 videos: 3 analysed, 2 failed · index: {tmp_path / 'index.html'}\n"
    assert err.getvalue() == "veille: 2 of 5 inputs failed: b.mp4, c.mkv\n"
    console, out, err = _console(tty=False, lang="fr", quiet=True)
    console.batch_summary(2, ["b.mp4"], tmp_path / "index.html")
    assert out.getvalue() == "" and err.getvalue() == "veille: 1 of 2 inputs failed: b.mp4\n"  # errors even when quiet
    console, out, err = _console(tty=False, lang="fr")
    console.batch_summary(2, [], tmp_path / "index.html")
    assert out.getvalue().startswith("2 vidéos : 2 analysées, 0 en échec · index: ")
    console, out, err = _console(tty=False)
    console.batch_summary(1, ["a.mp4"], tmp_path / "index.html")
    assert out.getvalue() == err.getvalue() == ""  # one input: its error line says it all


def test_plurals() -> None:
    from veille.i18n import count, events_found

    assert [count(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]
    assert [count(n, "event", "fr") for n in (0, 1, 2)] == ["0 événement", "1 événement", "2 événements"]
    assert count(1, "stretch") == "1 stretch of movement" and count(3, "stretch") == "3 stretches of movement"
    assert count(2, "stretch", "fr") == "2 passages avec du mouvement"
    assert events_found(1, 30, "en") == "1 event in 00:30"


def test_progress_time_is_labelled() -> None:
    console, _, err = _console(tty=True)
    progress = console.progress()
    progress.start("scan", 10.0, unit="s")
    progress.update("scan", 10.0)
    progress.finish("scan")
    from tests.cli_run import plain_text

    line = [line for line in plain_text(err.getvalue()).splitlines() if "Scanning" in line][-1]
    assert "took " in line and not line.rstrip().endswith(("00:00", "00:01"))
