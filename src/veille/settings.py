"""One settings object: defaults < ``veille.toml`` (or ``--config``) < ``VEILLE_*`` env < flags.

Nested groups are reached from the environment with a double underscore, e.g.
``VEILLE_SCAN__CHUNK_S=10``. An environment value is read as its setting's type asks: a list
setting takes ``a,b`` or JSON (``VEILLE_FORMATS=json,html``); any other value is taken whole, commas
included (``VEILLE_CONTEXT="Back door, deliveries 5-7 AM are normal"``). Unknown keys anywhere are
errors that name the key (and, for the file, its line; for the environment, the variable).
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from veille import constants
from veille.choices import Device, DType, Format, Lang, LayoutSetting, Lifetime, Profile, ScanMode
from veille.errors import ConfigError

ALL_FORMATS: tuple[Format, ...] = ("json", "html", "md", "srt", "vtt")
#: A model spec naming a model on an OpenAI-compatible server: ``openai:MODEL``.
REMOTE_PREFIX = "openai:"
#: ``VEILLE_*`` variables that are not settings (read where they are used).
NOT_SETTINGS = frozenset({"data_dir", "api_key", "embed_runtime", "onnx_cache_dir", "cpus"})
ENV_ORIGIN = "the VEILLE_* environment"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ScanSettings(_Strict):
    """Parameters of the activity scan."""

    mode: ScanMode = "auto"
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


class DescribeSettings(_Strict):
    """How chunks are shown to the describer."""

    layout: LayoutSetting = Field(
        "auto",
        description="storyboard: one image of the chunk's keyframes; frames: each keyframe; auto: storyboard on CPU",
    )


class AlertRules(_Strict):
    """When a live event is worth an alert (``veille watch``)."""

    min_threat: int = Field(0, ge=0, le=2, description="least threat level alerted (0: every event)")
    min_anomaly: float | None = Field(None, ge=0, description="least anomaly score alerted (events without one pass)")
    quiet_hours: list[str] = Field(
        default_factory=list, description='no alerts in these local hours, e.g. "23:00-06:00"'
    )
    cooldown_s: float = Field(60.0, ge=0, description="least time between two started alerts of one camera")

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        import re

        for item in value:
            if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d", item.strip()):
                raise ValueError(f'quiet hours {item!r}: write "HH:MM-HH:MM", e.g. "23:00-06:00"')
        return value


class CameraSettings(_Strict):
    """A ``[cameras.NAME]`` section: one live camera of ``veille watch``."""

    url: str = Field(description="rtsp://, rtsps://, http(s):// (MJPEG, HLS) or /dev/videoN")
    context: str = ""
    masks: list[list[tuple[float, float]]] = Field(default_factory=list)
    rules: AlertRules | None = None  # default: [watch.rules]
    webhook: str | None = None
    calibration: str | None = Field(None, description="camera profile (veille calibrate) scoring its events")


class MqttSettings(_Strict):
    """The ``[mqtt]`` broker of ``veille watch`` alerts."""

    url: str | None = Field(None, description="mqtt://[user:pass@]host[:port]")
    topic_prefix: str = "veille"


class WatchSettings(_Strict):
    """``veille watch``: live streams."""

    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    pre_s: float = Field(3.0, ge=0, le=30, description="seconds of video kept before each event's start")
    quiet_s: float = Field(5.0, gt=0, description="an event ends after this long without movement")
    max_event_s: float = Field(600.0, gt=0, description="a longer event is closed and a new one opened")
    open_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(5.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0, description="longest wait between two reconnection attempts")
    webhook: str | None = None
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_retries: int = Field(3, ge=0, le=10)
    rules: AlertRules = Field(default_factory=AlertRules)


class Settings(_Strict):
    """Everything that shapes an analysis. Build with :func:`load_settings`."""

    profile: Profile = "default"
    vlm: str | None = None
    llm: str | None = None
    grounder: str | None = None
    api_base: str | None = Field(None, description="OpenAI-compatible server of openai:MODEL specs")
    llm_api_base: str | None = Field(None, description="the reasoner's server, when not api_base")
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
    model_lifetime: Lifetime | None = None  # unset: from the two keys above
    out_dir: Path = Path(constants.DEFAULT_OUT_DIR)
    formats: list[Format] = Field(default_factory=lambda: list(ALL_FORMATS))
    lang: Lang = "en"
    clips: bool = False
    resume: bool = True
    verbose: bool = False
    quiet: bool = False
    scan: ScanSettings = Field(default_factory=ScanSettings)
    describe: DescribeSettings = Field(default_factory=DescribeSettings)
    cameras_dir: Path | None = Field(None, description="folder of camera profiles (default: the user data folder)")
    camera: str | None = Field(None, description="score how unusual each moment is for this camera ('self': the video)")
    cluster: str | None = Field(None, description="run batches on Ray: 'ray' (a local instance) or 'ray://HOST:PORT'")
    cameras: dict[str, CameraSettings] = Field(default_factory=dict, description="live cameras of `veille watch`")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @field_validator("api_base", "llm_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("give the server's http:// or https:// address, e.g. http://127.0.0.1:11434/v1")
        return value


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("__")
        if parts[0] in NOT_SETTINGS and len(parts) == 1:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _env_value(value, _field_type(parts))
    return out


def _field_type(path: list[str]) -> Any:
    """The type annotation of the setting at ``path`` (``None`` when there is no such setting)."""
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return None
        if depth == len(path) - 1:
            return field.annotation
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return None


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a union admits (the annotation itself otherwise)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _env_value(raw: str, annotation: Any) -> Any:
    """An environment string as its setting's type reads it; unknown keys pass through to be named."""
    if annotation is None:
        return raw
    members = _members(annotation)
    text = raw.strip()
    takes_str = str in members or any(typing.get_origin(m) is Literal for m in members)
    if any(typing.get_origin(m) in (list, tuple, set) for m in members):
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return raw  # pydantic names the setting and what is wrong
        return [part.strip() for part in text.split(",") if part.strip()]
    if text.lower() in {"none", "null"} and type(None) in members and not takes_str:
        return None
    if text.startswith("{") and not takes_str:  # a whole group, e.g. VEILLE_SCAN='{"chunk_s": 10}'
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
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
    if origin == ENV_ORIGIN:
        names = [str(p) for p in first["loc"] if isinstance(p, str)]
        where = f"{origin} (VEILLE_{'__'.join(names).upper()})"
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
    layers.append((env_data, ENV_ORIGIN, None))
    layers.append(({k: v for k, v in (flags or {}).items() if v is not None}, "the flags", None))
    merged: dict[str, Any] = {}
    for data, origin, layer_text in layers:
        try:  # validate each layer alone so the error names where it came from
            Settings.model_validate(_merge(merged, data))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, origin, layer_text)) from None
        merged = _merge(merged, data)
    settings = Settings.model_validate(merged)
    check_remote_models(settings)
    return settings


def check_remote_models(settings: Settings) -> None:
    """``openai:MODEL`` specs name a model and have a server to go to; the grounder is never remote.

    Raises:
        ConfigError: what is missing, and the flag or setting that gives it.
    """
    for key in ("vlm", "llm", "grounder"):
        spec = getattr(settings, key)
        if not (isinstance(spec, str) and spec.startswith(REMOTE_PREFIX)):
            continue
        if key == "grounder":
            raise ConfigError("the grounder cannot be an OpenAI-compatible model; use kosmos-2 or none")
        if not spec[len(REMOTE_PREFIX) :].strip():
            raise ConfigError(f"--{key} {spec} names no model; give the server's model name, e.g. --{key} openai:llava")
        base = (settings.llm_api_base or settings.api_base) if key == "llm" else settings.api_base
        if not base:
            flags = "--llm-api-base or --api-base" if key == "llm" else "--api-base"
            raise ConfigError(
                f"--{key} {spec} needs the server's address: add {flags} URL (e.g. http://127.0.0.1:11434/v1"
                " for Ollama), or set api_base in veille.toml or VEILLE_API_BASE"
            )
