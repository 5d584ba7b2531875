import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from veille.cli import cli
from veille.report.schema import Report

ROOT = Path(__file__).resolve().parents[1]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_analyze_motion_finds_known_activity(sample_clip, tmp_path: Path) -> None:
    video, truth = sample_clip
    result = CliRunner().invoke(cli, ["analyze", str(video), "--profile", "motion", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = Report.model_validate_json((tmp_path / "out" / "sample" / "report.json").read_text())
    assert report.schema_version == 1 and report.video.width == 640
    segments = [(s.start_s, s.end_s) for s in report.segments]
    for interval in truth["active_intervals"]:
        covered = sum(_overlap(tuple(interval), s) for s in segments)
        assert covered >= 0.9 * (interval[1] - interval[0]), (interval, segments)
    active = sum(b - a for a, b in truth["active_intervals"])
    reported = sum(b - a for a, b in segments)
    assert reported <= active * 1.6 + 4, "segments cover much more than the activity"
    assert report.events and all(e.source == "motion" for e in report.events)
    for event in report.events:
        assert event.keyframes
        for keyframe in event.keyframes:
            assert (tmp_path / "out" / "sample" / keyframe.image).is_file()


def test_missing_input_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(tmp_path / "nope.mp4")], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_exit_2() -> None:
    result = CliRunner().invoke(cli, ["analyze", "x.mp4", "--profile", "turbo"])
    assert result.exit_code == 2


def test_list_models_without_torch() -> None:
    code = (
        "import sys, runpy; sys.argv=['main.py','--list-models']\n"
        "try:\n    runpy.run_path('main.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch','transformers','av','cv2') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for name in ("smolvlm", "phi-2", "kosmos-2", "HuggingFaceTB/SmolVLM-Instruct", "4.5 GB", "5.6 GB", "6.7 GB"):
        assert name in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_models_list_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["models", "list", "--json"])
    rows = json.loads(result.output)
    names = {r["name"]: r for r in rows}
    assert names["kosmos-2"]["role"] == "grounder" and names["kosmos-2"]["cached"] is False
    assert {"name", "repo_id", "role", "size_bytes", "cached", "path"} <= set(rows[0])


def test_schema_command() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0 and '"schema_version"' in result.output


def test_sample_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sample", str(tmp_path / "s.mp4"), "--seconds", "6"])
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "s.json").read_text())
    assert truth["duration_s"] == 6 and (tmp_path / "s.mp4").stat().st_size > 0


def test_the_cli_offers_exactly_the_values_the_settings_accept() -> None:
    """Each closed-set option of ``analyze`` takes its choices from the setting's own type."""
    import typing

    import click

    from veille.cli import analyze
    from veille.settings import DescribeSettings, Settings

    fields = {
        "device": Settings.model_fields["device"],
        "dtype": Settings.model_fields["dtype"],
        "lang": Settings.model_fields["lang"],
        "profile": Settings.model_fields["profile"],
        "layout": DescribeSettings.model_fields["layout"],
    }
    options = {p.name: p for p in analyze.params}
    for name, field in fields.items():
        choice = options[name].type
        assert isinstance(choice, click.Choice), name
        assert list(choice.choices) == list(typing.get_args(field.annotation)), name
