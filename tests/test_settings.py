from pathlib import Path

import pytest

from veille.errors import ConfigError
from veille.settings import Settings, load_settings


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.profile == "default"
    assert s.cleanup_after_analysis is True
    assert s.keep_models_loaded is False
    assert s.scan.chunk_s == 20 and s.scan.keyframes_per_chunk == 4


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "veille.toml").write_text('profile = "fast"\ncontext = "a shop"\n[scan]\nchunk_s = 12\n')
    s = load_settings(env={}, search_dir=tmp_path)
    assert (s.profile, s.context, s.scan.chunk_s) == ("fast", "a shop", 12)
    s = load_settings(env={"profile": "full", "scan__chunk_s": "8"}, search_dir=tmp_path)
    assert (s.profile, s.scan.chunk_s) == ("full", 8)
    s = load_settings(env={"profile": "full"}, flags={"profile": "motion", "device": None}, search_dir=tmp_path)
    assert s.profile == "motion" and s.device == "auto"


def test_unknown_key_in_file_names_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "veille.toml"
    cfg.write_text('profile = "fast"\n\nprofle_typo = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config=cfg, env={})
    assert "profle_typo" in str(err.value) and "line 3" in str(err.value)


def test_unknown_env_key_is_named() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(env={"bogus": "1"})


def test_bad_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile"):
        load_settings(flags={"profile": "turbo"}, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config=tmp_path / "nope.toml", env={})


def test_settings_is_strict() -> None:
    with pytest.raises(ValueError):
        Settings(unknown=1)  # type: ignore[call-arg]
