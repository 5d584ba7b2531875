"""Security: safetensors only, no remote code, strict settings, masked credentials."""

from __future__ import annotations

import ast
import fnmatch
import json
import logging
from pathlib import Path

import pytest

from veille.errors import ConfigError
from veille.redact import install_log_masking, mask_credentials
from veille.settings import load_settings

SRC = Path(__file__).resolve().parents[1] / "src" / "veille"
# Functions whose returned kwargs are checked to force the safety flags (see test below).
SAFE_KWARG_BUILDERS = {"load_options", "load_kwargs"}


def _calls(name: str):
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield path, node, parents


def _literal(call: ast.Call, key: str) -> object:
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<not a literal>"
    return None


def _kwargs_from_safe_builder(call: ast.Call, parents: dict) -> bool:
    """``**name`` where ``name`` is assigned, in the same function, from a safe kwargs builder."""
    starred = [kw.value.id for kw in call.keywords if kw.arg is None and isinstance(kw.value, ast.Name)]
    if not starred:
        return False
    func = call
    while func in parents and not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
        func = parents[func]
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            callee = node.value.func
            callee_name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            targets = {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if callee_name in SAFE_KWARG_BUILDERS and set(starred) <= targets:
                return True
    return False


def test_from_pretrained_is_safetensors_only_and_never_remote_code() -> None:
    checked = 0
    for path, call, parents in _calls("from_pretrained"):
        where = f"{path.relative_to(SRC)}:{call.lineno}"
        assert _literal(call, "trust_remote_code") in (False, None), where
        assert _literal(call, "use_safetensors") in (True, None), where
        owner = ast.unparse(call.func.value)
        if "Model" in owner:  # weights are loaded: safetensors and no remote code, explicitly
            explicit = _literal(call, "use_safetensors") is True and _literal(call, "trust_remote_code") is False
            assert explicit or _kwargs_from_safe_builder(call, parents), f"{where}: {ast.unparse(call)}"
        elif any(kw.arg is None for kw in call.keywords):  # tokenizers/processors: no hidden kwargs
            assert _kwargs_from_safe_builder(call, parents), where
        checked += 1
    in_text = sum(p.read_text(encoding="utf-8").count(".from_pretrained(") for p in SRC.rglob("*.py"))
    assert checked == in_text, "a from_pretrained call escaped the AST check"


def test_safe_kwarg_builders_force_the_flags() -> None:
    """Each builder's source ends with a dict that sets use_safetensors=True and trust_remote_code=False."""
    found = 0
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef) and func.name in SAFE_KWARG_BUILDERS:
                dicts = [d for d in ast.walk(func) if isinstance(d, ast.Dict)]
                flags = {
                    k.value: v.value
                    for d in dicts
                    for k, v in zip(d.keys, d.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                }
                assert flags.get("use_safetensors") is True and flags.get("trust_remote_code") is False, path
                found += 1
    assert found, f"no {sorted(SAFE_KWARG_BUILDERS)} in the sources: the from_pretrained check trusts these names"


def test_no_remote_code_or_pickle_loading_anywhere() -> None:
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "trust_remote_code=True" not in text.replace(" ", ""), path
        assert "use_safetensors=False" not in text.replace(" ", ""), path
        assert "pickle.load" not in text, path
    for _, call, _ in _calls("load"):
        if ast.unparse(call.func.value) == "torch":
            assert _literal(call, "weights_only") is True, ast.unparse(call)


def test_catalog_downloads_no_pickled_weights() -> None:
    from veille.models.catalog import CATALOG

    entries = CATALOG.values() if isinstance(CATALOG, dict) else CATALOG
    for entry in entries:
        for name in ("pytorch_model.bin", "model.pt", "weights.ckpt", "x.pth", "x.pkl", "pytorch_model-00001.bin"):
            assert not any(fnmatch.fnmatch(name, p) for p in entry.allow_patterns), (entry, name)
        assert any(fnmatch.fnmatch("model.safetensors", p) for p in entry.allow_patterns)


def test_unknown_nested_setting_names_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "veille.toml"
    cfg.write_text('profile = "motion"\n\n[scan]\nchunk_s = 10\nchunk_sz = 3\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config=cfg, env={})
    assert "scan.chunk_sz" in str(err.value) and "line 5" in str(err.value)


def test_bad_setting_value_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "veille.toml"
    cfg.write_text('context = "shop"\nprofile = "turbo"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config=cfg, env={})
    assert "profile" in str(err.value) and "line 2" in str(err.value)


def test_settings_file_error_through_cli_is_one_line(tmp_path: Path, capsys) -> None:
    from veille.cli import main

    (tmp_path / "veille.toml").write_text("trust_remote_code = true\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "x.mp4", "--profile", "motion"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "trust_remote_code" in err and "line 1" in err


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101", "hunter2"),
        ("http://user:p%40ss@cam.local/video.mjpg", "p%40ss"),
        ("failed to open https://alice@host/x and rtsp://bob:s3cr3t@h2/y", "s3cr3t"),
        ("rtsp://cam/stream?user=admin&password=topsecret&channel=1", "topsecret"),
        ("http://h/api?token=abc123", "abc123"),
    ],
)
def test_credentials_are_masked(text: str, secret: str) -> None:
    masked = mask_credentials(text)
    assert secret not in masked and "***" in masked
    assert "alice" not in masked and "admin:" not in masked


def test_plain_text_is_left_alone() -> None:
    for text in ("/videos/cam1.mp4", "rtsp://cam.local/stream1", "threat=2 at 12:00", "a@b.c"):
        assert mask_credentials(text) == text


def test_logs_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    with caplog.at_level(logging.INFO):
        logging.getLogger("veille.test").info("connecting to %s", "rtsp://admin:hunter2@cam/1")
    assert "hunter2" not in caplog.text and "rtsp://***@cam/1" in caplog.text


def test_reports_and_errors_mask_credentials(
    sample_clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import veille.pipeline as pipeline
    from veille.cli import main

    monkeypatch.setattr(pipeline, "truncation_warnings", lambda info: ["source was rtsp://admin:hunter2@cam/1"])
    video, _ = sample_clip
    out = tmp_path / "out"
    main(["analyze", str(video), "--profile", "motion", "--out", str(out), "-q"])
    for path in out.rglob("*"):
        if path.suffix in {".json", ".html", ".md", ".srt", ".vtt"}:
            assert "hunter2" not in path.read_text(encoding="utf-8"), path
    report = json.loads((out / "sample" / "report.json").read_text())
    assert "source was rtsp://***@cam/1" in report["warnings"]

    from veille.errors import VideoDecodeError

    def failing(path):
        raise VideoDecodeError("cannot open rtsp://admin:hunter2@cam/1; check the camera")

    monkeypatch.setattr(pipeline, "probe", failing)
    with pytest.raises(SystemExit):
        main(["analyze", str(video), "--profile", "motion", "--out", str(out)])
    assert "hunter2" not in capsys.readouterr().err
