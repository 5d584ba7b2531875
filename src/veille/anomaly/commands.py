"""What ``veille calibrate``, ``veille cameras …`` and ``veille eval anomaly`` say, as lines of text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from veille.anomaly.calibrate import MIN_SECONDS, Calibration, calibrate
from veille.anomaly.evaluate import DatasetScore, QuietCheck
from veille.anomaly.model import NormalModel
from veille.anomaly.profile import CameraProfile
from veille.anomaly.store import CameraStore
from veille.errors import CameraProfileError
from veille.progress import NullProgress, Progress


def run_calibrate(
    videos: list[Path], camera: str, store: CameraStore, progress: Progress | None = None
) -> list[str]:
    """Calibrate ``camera`` on ``videos``; the lines to print."""
    progress = progress or NullProgress()
    total = None
    stage = f"learn {camera}"
    progress.start(stage, total, unit="s")
    try:
        result = calibrate(videos, camera, store, min_seconds=MIN_SECONDS, progress=lambda t: progress.update(stage, t))
    finally:
        progress.finish(stage)
    return calibration_lines(result, store)


def calibration_lines(result: Calibration, store: CameraStore) -> list[str]:
    """A calibration's outcome, in words."""
    name = result.profile.meta.name
    lines = []
    if result.skipped:
        lines.append(f"{len(result.skipped)} video(s) already learned by camera '{name}' were skipped")
    if not result.added:
        lines.append(f"camera '{name}': nothing new to learn; profile unchanged ({store.path(name)})")
        return lines
    speed = result.seconds / result.wall_s if result.wall_s > 0 else 0.0
    meta = result.profile.meta
    total = f"; it now knows {meta.seconds:.0f} s from {len(meta.sources)} video(s)"
    lines.append(
        f"camera '{name}': learned {result.seconds:.0f} s from {len(result.added)} video(s) in {result.wall_s:.1f} s "
        f"({speed:.0f}x real time){total if len(meta.sources) > len(result.added) else ''}"
    )
    lines.append(f"profile: {result.path}")
    return lines


def cameras_list(store: CameraStore, *, as_json: bool = False) -> list[str]:
    """The known cameras, one line each (or one JSON document)."""
    rows: list[dict] = []
    for name in store.names():
        try:
            meta = store.load(name).meta
        except CameraProfileError as exc:
            rows.append({"name": name, "error": str(exc)})
            continue
        rows.append(
            {"name": name, "size": f"{meta.width}x{meta.height}", "seconds": meta.seconds,
             "videos": len(meta.sources), "updated_at": meta.updated_at}
        )  # fmt: skip
    if as_json:
        return [json.dumps({"folder": str(store.folder), "cameras": rows}, indent=2)]
    if not rows:
        return [f"no cameras yet in {store.folder}; learn one with: veille calibrate VIDEO... --camera NAME"]
    lines = [f"{'camera':20} {'size':>9} {'learned':>9} {'videos':>6}  updated"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['name']:20} unreadable: {r['error']}")
            continue
        learned = f"{r['seconds'] / 60:.1f} min"
        lines.append(f"{r['name']:20} {r['size']:>9} {learned:>9} {r['videos']:>6}  {r['updated_at']}")
    lines.append(f"({store.folder})")
    return lines


def cameras_show(store: CameraStore, name: str) -> list[str]:
    """What camera ``name``'s profile holds."""
    profile = store.load(name)
    meta = profile.meta
    lines = [
        f"camera: {meta.name}",
        f"profile: {store.path(name)} (format {meta.format}, veille {meta.veille_version})",
        f"picture: {meta.width}x{meta.height} (analysed at {meta.analysis_size[0]}x{meta.analysis_size[1]})",
        f"learned from: {meta.seconds:.0f} s of footage, {meta.frames} analysed frames, {len(meta.sources)} video(s)",
        f"created: {meta.created_at}; updated: {meta.updated_at}",
        *describe_normal(profile),
        "videos:",
        *(f"  {s.path} ({s.duration_s:.0f} s)" for s in meta.sources),
    ]
    return lines


def describe_normal(profile: CameraProfile) -> list[str]:
    """What was learned, in a few figures."""
    model = NormalModel(profile)
    frames = max(profile.meta.moving_frames or profile.meta.frames, 1)
    moving = profile.active / frames
    still = float((moving < 0.01).mean())
    seen = profile.active > 0
    speed = float(np.median(model.speed_median[seen])) if seen.any() else 0.0
    normal = profile.meta.normal_scores
    grid = profile.grid
    return [
        f"regions: {grid[0]}x{grid[1]} overlapping windows; {still:.0%} of them move in under 1% of the frames "
        "with movement",
        f"usual speed of moving things: {speed:.3f} frame heights per second (median over regions)",
        "scores of normal frames: "
        + (", ".join(f"{k} {v:.2f}" for k, v in normal.items()) if normal else "unknown (no sample)"),
    ]


def cameras_remove(store: CameraStore, name: str) -> list[str]:
    """Delete camera ``name``'s profile."""
    return [f"removed camera '{name}' ({store.remove(name)})"]


def _pct(value: float) -> str:
    return "  n/a" if math.isnan(value) else f"{value:.3f}"


def format_anomaly_eval(results: list[DatasetScore], quiet: QuietCheck | None) -> str:
    """The ``veille eval anomaly`` table."""
    lines = [
        "frame-level ROC AUC (calibrated on train/, scored on every Test clip here)",
        f"{'dataset':10} {'clips':>5} {'frames':>7} {'anomalous':>9} {'pooled':>7} {'per-clip-normalised*':>21}",
    ]
    for r in results:
        lines.append(
            f"{r.dataset:10} {r.test_clips:5d} {r.frames:7d} {r.anomalous:9d} {_pct(r.pooled_auc):>7} "
            f"{_pct(r.normalised_auc):>21}"
        )
    lines.append("* each clip's scores min-max scaled first (as most papers report; a live system cannot do this)")
    lines.append("per clip (pooled scores): " + "; ".join(
        f"{r.dataset} " + " ".join(f"{k[4:]}:{_pct(v)}" for k, v in r.clip_auc.items()) for r in results
    ))  # fmt: skip
    lines.append(
        "speed in x real time (seconds of footage per second): wall = measured here; CPU = per CPU-second of "
        "all threads; 2 cores = footage / the busier of the two threads (decoding, statistics), what two "
        "free cores reach"
    )
    for r in results:
        lines.append(
            f"  {r.dataset}: calibration {r.calibration_s:.0f} s of footage in {r.calibration_wall_s:.1f} s "
            f"({_speeds(r.calibration_s, r.calibration_wall_s, r.calibration_cpu_s, r.calibration_threads_s)}); "
            f"scoring {r.scored_s:.0f} s in {r.scoring_wall_s:.1f} s "
            f"({_speeds(r.scored_s, r.scoring_wall_s, r.scoring_cpu_s, r.scoring_threads_s)})"
        )
    if quiet is not None:
        lines.append(
            f"quiet camera check ({quiet.clip}: calibrated on the first {quiet.calibration_s:.0f} s, scored the "
            f"next {quiet.scored_s:.0f} s): {quiet.flagged_share:.1%} of frames above the camera's normal p99 "
            f"({quiet.threshold:.2f}); highest score {quiet.max_score:.2f}"
        )
    return "\n".join(lines)


def _x(footage_s: float, spent_s: float) -> str:
    return f"{footage_s / spent_s:.0f}x" if spent_s > 0 else "-"


def _speeds(footage_s: float, wall_s: float, cpu_s: float, threads_s: tuple[float, float]) -> str:
    return f"{_x(footage_s, wall_s)} wall, {_x(footage_s, cpu_s)} CPU, {_x(footage_s, max(threads_s))} on 2 cores"
