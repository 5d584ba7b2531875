"""One settings object: defaults < ``veille.toml`` (or ``--config``) < ``VEILLE_*`` env < flags.

Nested groups are reached from the environment with a double underscore, e.g.
``VEILLE_SCAN__CHUNK_S=10``. Unknown keys anywhere are errors that name the key (and, for the
file, its line).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veille import constants
from veille.errors import ConfigError

Profile = Literal["motion", "fast", "default", "full"]
Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "bf16", "fp16", "fp32"]
Format = Literal["json", "html", "md", "srt", "vtt"]
ALL_FORMATS: tuple[Format, ...] = ("json", "html", "md", "srt", "vtt")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ScanSettings(_Strict):
    """Parameters of the activity scan."""

    mode: Literal["auto", "packets", "pixels"] = "auto"
    analysis_height: int = Field(160, ge=32, le=1080)
    motion_threshold: float = Field(0.0005, ge=0, le=1, description="share of pixels that moved")
    pixel_threshold: int = Field(25, ge=1, le=255)
    min_segment_s: float = Field(0.5, ge=0)
    merge_gap_s: float = Field(2.0, ge=0)
    padding_s: float = Field(1.0, ge=0)
    chunk_s: float = Field(20.0, gt=0)
    keyframes_per_chunk: int = Field(4, ge=1, le=20)
    heartbeat_min: float = Field(10.0, ge=0, description="0 disables the quiet heartbeat")
    lighting_threshold: float = Field(0.8, gt=0, le=1)
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list, description="polygons in 0..1 frame coordinates to ignore"
    )
    packet_window_s: float = Field(30.0, gt=0, description="stretch over which packet sizes are judged informative")
    packet_hot_ratio: float = Field(1.6, gt=1, description="smoothed inter-frame size over quiet baseline that is hot")
    packet_informative_ratio: float = Field(
        0.1, gt=0, le=1, description="quiet inter-frame / keyframe size below which packet sizes are trusted"
    )
    packet_min_hot: int = Field(2, ge=1, description="hot frames needed to make a candidate interval")
    follow_s: float = Field(2.0, ge=0, description="decode on until no motion has been seen for this long")
    packet_saturation: float = Field(
        0.35, gt=0, le=1, description="share of hot frames above which a window is decoded whole instead"
    )
    keyframe_check_s: float = Field(
        8.0, ge=0, description="compare decoded keyframes at least this far apart (0: off); a safety net"
    )
    candidate_margin_s: float = Field(1.0, ge=0, description="padding around candidate intervals before decoding")
    span_merge_s: float = Field(2.0, ge=0, description="decode on through gaps shorter than this instead of seeking")


class Settings(_Strict):
    """Everything that shapes an analysis. Build with :func:`load_settings`."""

    profile: Profile = "default"
    vlm: str | None = None
    llm: str | None = None
    grounder: str | None = None
    device: Device = "auto"
    dtype: DType = "auto"
    load_in_8bit: bool | None = None
    offline: bool = False
    cache_dir: Path | None = None
    int8_cache_dir: Path | None = None  # int8 weights of models quantized on the CPU (default: beside the hub cache)
    context: str = ""
    rubric: str | None = None
    strict: bool = False
    memory_check: bool = True  # refuse a profile whose measured peak memory exceeds what is available
    cleanup_after_analysis: bool = True
    keep_models_loaded: bool = False
    out_dir: Path = Path(constants.DEFAULT_OUT_DIR)
    formats: list[Format] = Field(default_factory=lambda: list(ALL_FORMATS))
    lang: Literal["en", "fr"] = "en"
    clips: bool = False
    resume: bool = True
    verbose: bool = False
    quiet: bool = False
    scan: ScanSettings = Field(default_factory=ScanSettings)


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _env_value(value)
    return out


def _env_value(raw: str) -> Any:
    """Environment strings: JSON-ish lists stay strings for pydantic to parse."""
    text = raw.strip()
    if text.startswith("[") or text.startswith("{"):
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    if text.lower() in {"none", "null"}:
        return None
    if "," in text and not text.startswith(("http", "/")):
        return [p.strip() for p in text.split(",")]
    return raw


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith((key + " ", key + "=", f'"{key}"')):
            return number
    return None


def _describe(err: ValidationError, origin: str, text: str | None) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    where = origin
    if text is not None:
        line = _line_of(text, str(first["loc"][-1]))
        if line:
            where = f"{origin}, line {line}"
    if first["type"] == "extra_forbidden":
        return f"unknown setting '{key}' in {where}; check the spelling (see `veille analyze --help`)"
    return f"invalid value for '{key}' in {where}: {first['msg']}"


def read_config_file(path: Path) -> tuple[dict[str, Any], str]:
    """Read a TOML settings file; return its data and text. Errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    return data.get("veille", data) if isinstance(data.get("veille"), dict) else data, text


def load_settings(
    *,
    config: Path | None = None,
    flags: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    search_dir: Path | None = None,
) -> Settings:
    """Build the settings from defaults, file, environment and flags (later wins).

    Args:
        config: explicit settings file; otherwise ``veille.toml`` in ``search_dir`` (cwd) if any.
        flags: values from the command line; ``None`` values are ignored.
        env: ``VEILLE_*`` values with the prefix removed (defaults to those read at start).
        search_dir: where to look for ``veille.toml``.
    """
    layers: list[tuple[dict[str, Any], str, str | None]] = []
    path = config or (search_dir or Path.cwd()) / constants.CONFIG_FILE_NAME
    if config is not None and not config.is_file():
        raise ConfigError(f"settings file {config} does not exist; give an existing --config file")
    if path.is_file():
        data, text = read_config_file(path)
        layers.append((data, str(path), text))
    env_data = _nest(constants.VEILLE_ENV if env is None else env)
    layers.append((env_data, "the VEILLE_* environment", None))
    layers.append(({k: v for k, v in (flags or {}).items() if v is not None}, "the flags", None))
    merged: dict[str, Any] = {}
    for data, origin, text in layers:
        try:  # validate each layer alone so the error names where it came from
            Settings.model_validate(_merge(merged, data))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, origin, text)) from None
        merged = _merge(merged, data)
    return Settings.model_validate(merged)
