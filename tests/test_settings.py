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


def test_env_values_are_read_as_their_setting_type() -> None:
    # before: every comma made a list, so any sentence in VEILLE_CONTEXT was refused
    s = load_settings(env={"context": "Back door, deliveries 5–7 AM are normal", "formats": "json,html"})
    assert s.context == "Back door, deliveries 5–7 AM are normal" and s.formats == ["json", "html"]
    s = load_settings(env={"formats": '["md"]', "rubric": "0 calm, 1 odd, 2 bad", "vlm": "none", "cache_dir": "null"})
    assert s.formats == ["md"] and s.rubric == "0 calm, 1 odd, 2 bad" and s.vlm == "none" and s.cache_dir is None
    s = load_settings(env={"context": "[gate] open, then closed", "scan__masks": "[[[0, 0], [0.5, 0], [0, 0.5]]]"})
    assert s.context == "[gate] open, then closed" and len(s.scan.masks[0]) == 3


def test_env_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"VEILLE_SCAN__CHUNK_S\): Input should be a valid number"):
        load_settings(env={"scan__chunk_s": "ten"})
    with pytest.raises(ConfigError, match=r"unknown setting 'bogus' .*\(VEILLE_BOGUS\)"):
        load_settings(env={"bogus": "1"})


def test_veille_variables_that_are_not_settings_are_left_alone() -> None:
    s = load_settings(env={"data_dir": "/footage", "api_key": "sk-secret", "profile": "fast"})
    assert s.profile == "fast" and "sk-secret" not in s.model_dump_json()
    # read where they are used: the search embedder's runtime and graphs, a cluster task's CPU share
    load_settings(env={"embed_runtime": "torch", "onnx_cache_dir": "/graphs", "cpus": "1"})


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"vlm": "openai:llava"}, "--vlm openai:llava needs the server's address: add --api-base URL"),
        ({"llm": "openai:qwen"}, "add --llm-api-base or --api-base URL"),
        ({"vlm": "openai:", "api_base": "http://127.0.0.1:1/v1"}, "names no model"),
        ({"grounder": "openai:x", "api_base": "http://127.0.0.1:1/v1"}, "grounder cannot be an OpenAI-compatible"),
        ({"api_base": "127.0.0.1:11434"}, "http:// or https:// address"),
    ],
)
def test_remote_models_need_a_server(values: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_settings(flags=values, env={})


def test_the_reasoner_uses_the_describers_server_unless_told() -> None:
    s = load_settings(flags={"llm": "openai:qwen", "api_base": "http://127.0.0.1:11434/v1"}, env={})
    assert s.llm == "openai:qwen" and s.llm_api_base is None


def test_the_cli_reads_commas_in_env_values(sample_clip: tuple[Path, dict], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(
        VEILLE_CONTEXT="Back door, deliveries 5–7 AM are normal",
        VEILLE_FORMATS="json,md",
        VEILLE_DATA_DIR=str(tmp_path),  # the benchmark's and tests' footage folder: not a setting
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "veille", "analyze", str(sample_clip[0]), "--profile", "motion", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "sample").glob("report.*")) == ["report.json", "report.md"]
