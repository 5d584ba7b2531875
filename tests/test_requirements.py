"""What memory an analysis needs: measured peaks per profile, and a refusal with a hint when it won't fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import cli
from veille.errors import NotEnoughMemoryError
from veille.models.catalog import (
    BASELINE_PEAK_MEMORY,
    CPU_INT8,
    MODEL_PEAK_MEMORY,
    PROFILE_RUN_PEAK_MEMORY,
    PROFILES,
)
from veille.models.requirements import GIB, check_memory, profile_peak
from veille.settings import Settings


def test_every_model_of_a_profile_has_a_measured_cpu_peak() -> None:
    for profile, roles in PROFILES.items():
        for model in filter(None, roles.values()):
            assert CPU_INT8 in MODEL_PEAK_MEMORY.get(model, {}), (profile, model)
        assert profile_peak(profile) is not None, profile
    assert profile_peak("motion") == BASELINE_PEAK_MEMORY[CPU_INT8]


def test_a_profile_peaks_at_its_largest_model_or_at_all_of_them_held_together() -> None:
    """``stage`` frees each model before the next loads; ``video`` and ``batch`` hold them all."""
    base = BASELINE_PEAK_MEMORY[CPU_INT8]
    for profile, roles in PROFILES.items():
        peaks = [MODEL_PEAK_MEMORY[m][CPU_INT8] for m in roles.values() if m]
        assert profile_peak(profile) == max(peaks, default=base), profile
        assert profile_peak(profile, lifetime="stage") == max(peaks, default=base), profile
        for lifetime in ("video", "batch"):
            assert profile_peak(profile, lifetime=lifetime) == base + sum(p - base for p in peaks), (profile, lifetime)
    # held together, the larger describer shows (one at a time, both may peak with Phi-2)
    assert profile_peak("fast", lifetime="video") < profile_peak("default", lifetime="video")  # type: ignore[operator]


def test_the_measured_profile_runs_stay_within_the_rule() -> None:
    for profile, measured in PROFILE_RUN_PEAK_MEMORY.items():
        predicted = profile_peak(profile)
        assert predicted is not None and measured[CPU_INT8] <= predicted, profile


def test_other_models_are_estimated_from_their_own_peaks() -> None:
    base = BASELINE_PEAK_MEMORY[CPU_INT8]
    vlm, llm = MODEL_PEAK_MEMORY["smolvlm"][CPU_INT8], MODEL_PEAK_MEMORY["phi-2"][CPU_INT8]
    swapped = {"describer": "smolvlm"}
    assert profile_peak("fast", overrides=swapped) == max(vlm, llm)  # each model is freed before the next loads
    assert profile_peak("fast", overrides=swapped, lifetime="video") == vlm + llm - base
    assert profile_peak("fast", overrides={"reasoner": "none"}) == MODEL_PEAK_MEMORY["smolvlm-256m"][CPU_INT8]
    assert profile_peak("fast", overrides={"reasoner": "/some/folder"}) is None  # unknown: not guessed
    assert profile_peak("fast", overrides={"reasoner": "phi-3-mini"}) is None  # in the catalog, never measured
    assert profile_peak("fast", setup="cuda") is None


def test_a_profile_that_does_not_fit_is_refused_with_one_that_does() -> None:
    settings = Settings(profile="default", device="cpu")
    need, motion = profile_peak("default"), profile_peak("motion")
    assert need is not None and motion is not None and motion < need
    check_memory(settings, available=need + GIB)  # fits: nothing to say
    with pytest.raises(NotEnoughMemoryError) as caught:
        check_memory(settings, available=need - 1)
    message = str(caught.value)
    assert "profile 'default' peaks at" in message and "--profile motion" in message and "--no-memory-check" in message
    assert "\n" not in message
    heavy = Settings(profile="fast", device="cpu", vlm="smolvlm", model_lifetime="video")
    heavy_need = profile_peak("fast", overrides={"describer": "smolvlm"}, lifetime="video")
    assert heavy_need is not None and heavy_need > need
    with pytest.raises(NotEnoughMemoryError, match=r"with its models loaded together.*use its own models, one at a"):
        check_memory(heavy, available=need + GIB // 2)
    old_key = Settings(profile="default", device="cpu", keep_models_loaded=True)  # means the video lifetime
    with pytest.raises(NotEnoughMemoryError, match="loaded together"):
        check_memory(old_key, available=need + GIB // 2)


def test_the_check_can_be_turned_off_and_skips_what_was_not_measured() -> None:
    check_memory(Settings(profile="default", device="cpu", memory_check=False), available=1)
    check_memory(Settings(profile="default", device="cpu", load_in_8bit=False), available=1)  # --no-8bit: unmeasured
    check_memory(Settings(profile="motion", device="cpu"), available=1)  # no model
    check_memory(Settings(profile="fast", device="cpu", llm="/a/folder", vlm="none"), available=1)
    check_memory(Settings(profile="fast", device="cpu", llm="phi-3-mini"), available=1)  # never measured


def test_the_check_and_the_int8_cache_folder_do_not_change_what_an_analysis_finds(tmp_path: Path) -> None:
    from veille.workcache import settings_digest

    digest = settings_digest(Settings())
    assert settings_digest(Settings(memory_check=False)) == digest  # --no-memory-check reuses the work done
    assert settings_digest(Settings(int8_cache_dir=tmp_path)) == digest
    assert settings_digest(Settings(profile="full")) != digest


def test_analyze_refuses_before_reading_the_video(
    sample_clip: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import psutil

    from veille.cli import run

    class Tight:
        available = 1 * GIB

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        run(cli, ["analyze", str(sample_clip[0]), "--profile", "fast", "--device", "cpu", "--out", str(out)])
    error = capsys.readouterr().err
    assert exited.value.code == 1 and error.count("\n") == 1, error
    assert "profile 'fast' peaks at" in error and "--profile motion" in error and "Traceback" not in error
    assert not out.exists()  # nothing half-written


def test_the_flag_turns_the_check_off() -> None:
    from veille.cli import _settings

    assert _settings(None, {"memory_check": False}).memory_check is False
    assert _settings(None, {}).memory_check is True


def test_models_list_shows_each_profile_peak() -> None:
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("peak memory per profile on the CPU (int8):")
    assert f"fast {(profile_peak('fast') or 0) / GIB:.1f} GiB" in line and "available now" in line
