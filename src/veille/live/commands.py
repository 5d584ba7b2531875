"""The ``veille watch`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command(epilog="Stop with Ctrl-C or SIGTERM: open events are closed, clips and the index written; exit 0.")
@click.argument("sources", nargs=-1)
@click.option("--camera", "names", multiple=True, help="Name of the camera (once per source, in order).")
@click.option("--profile", type=click.Choice(["motion", "fast", "default", "full"]), help="motion: no model.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (OUT/<camera>/<date>/).")
@click.option("--mqtt", "mqtt_url", help="MQTT broker: mqtt://[user:pass@]HOST[:PORT].")
@click.option("--webhook", help="POST each alert as JSON to this URL.")
@click.option("--rtsp-transport", type=click.Choice(["tcp", "udp"]), help="RTSP over TCP (default) or UDP.")
@click.option("--config", type=click.Path(path_type=Path), help="Settings file (default ./veille.toml).")
def watch(sources: tuple[str, ...], names: tuple[str, ...], config: Path | None, **flags: Any) -> None:
    """Watch live cameras (RTSP, HTTP MJPEG/HLS, /dev/videoN): events, clips and alerts as they happen.

    SOURCES are URLs, devices, or names of [cameras.NAME] sections of veille.toml (default: all of them).
    """
    from veille.live.config import resolve_cameras
    from veille.live.watch import run_watch
    from veille.redact import install_log_masking
    from veille.settings import load_settings

    install_log_masking()
    nested: dict[str, Any] = {"profile": flags["profile"] or "motion", "out_dir": flags["out_dir"]}
    if flags["mqtt_url"]:
        nested["mqtt"] = {"url": flags["mqtt_url"]}
    watch_flags = {k: v for k, v in (("webhook", flags["webhook"]), ("rtsp_transport", flags["rtsp_transport"])) if v}
    if watch_flags:
        nested["watch"] = watch_flags
    settings = load_settings(config=config, flags=nested)
    cameras = resolve_cameras(sources, settings, names)
    run_watch(cameras, settings)
