"""``veille eval activity``: the activity scan against real footage with ground truth.

UCSD Ped1/Ped2 (pedestrians walk through every frame: recall of frames inside reported
segments) and CDnet highway (per-frame motion masks: recall and precision of motion frames).
The data folder is given by the caller; nothing is copied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from veille.errors import InputNotFoundError
from veille.settings import ScanSettings
from veille.types import Segment
from veille.video.probe import probe
from veille.video.scan import scan_video


@dataclass(frozen=True, slots=True)
class ClipScore:
    """How the scan did on one clip."""

    dataset: str
    clip: str
    frames: int
    truth_frames: int
    recall: float
    precision: float | None
    mode: str


def _inside(t: float, segments: list[Segment]) -> bool:
    return any(s.start_s <= t < s.end_s + 1e-6 for s in segments)


def score_clip(dataset: str, path: Path, truth: list[bool | None], cfg: ScanSettings) -> ClipScore:
    """Scan ``path``; compare frames inside segments with per-frame truth.

    ``truth[i]``: frame i moves (True), is still (False) or is unlabelled (None, not scored).
    """
    info = probe(path)
    result = scan_video(info, cfg, load_keyframes=False)
    fps = info.fps or 25.0
    pairs = [(_inside(i / fps, result.segments), t) for i, t in enumerate(truth) if t is not None]
    hits = sum(r and t for r, t in pairs)
    positives = sum(t for _, t in pairs)
    flagged = sum(r for r, _ in pairs)
    precision = hits / flagged if flagged else None
    modes = "+".join(sorted({s.mode for s in result.stretches}))
    recall = hits / positives if positives else 1.0
    return ClipScore(dataset, path.stem, len(pairs), positives, recall, precision, modes)


def evaluate_activity(data_dir: Path, cfg: ScanSettings | None = None) -> list[ClipScore]:
    """Score every clip of ``ucsd_ped1``, ``ucsd_ped2`` and ``cdnet_highway`` found under ``data_dir``."""
    cfg = cfg or ScanSettings(heartbeat_min=0)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputNotFoundError(f"{data_dir} is not a folder; give the data folder with --data")
    scores: list[ClipScore] = []
    for name in ("ucsd_ped1", "ucsd_ped2"):
        for clip in sorted((data_dir / name).glob("Test*.mp4")):
            frames = probe(clip).frame_count
            scores.append(score_clip(name, clip, [True] * frames, cfg))
    highway = data_dir / "cdnet_highway" / "highway_0001-0850.mp4"
    if highway.is_file():
        scores.append(score_clip("cdnet_highway", highway, _highway_truth(highway), cfg))
    if not scores:
        raise InputNotFoundError(f"no ucsd_ped1, ucsd_ped2 or cdnet_highway clips under {data_dir}")
    return scores


def _highway_truth(video: Path) -> list[bool | None]:
    """Per frame: any moving pixel in the ground-truth mask; None before the labelled range."""
    data = json.loads(video.with_name("highway_0001-0850_ground_truth.json").read_text())
    return [bool(row["motion"]) if row.get("gt_valid") else None for row in data["frames"]]


def format_scores(scores: list[ClipScore]) -> str:
    """A plain-text table with per-dataset totals."""
    lines = [f"{'dataset':14} {'clip':22} {'frames':>6} {'truth':>6} {'recall':>7} {'precision':>9}  mode"]
    for s in scores:
        precision = f"{s.precision:.3f}" if s.precision is not None else "-"
        lines.append(
            f"{s.dataset:14} {s.clip:22} {s.frames:6d} {s.truth_frames:6d} {s.recall:7.3f} {precision:>9}  {s.mode}"
        )
    for name in sorted({s.dataset for s in scores}):
        group = [s for s in scores if s.dataset == name]
        truth = sum(s.truth_frames for s in group)
        recall = sum(s.recall * s.truth_frames for s in group) / truth if truth else 1.0
        lines.append(
            f"{name:14} {'ALL (frame-weighted)':22} {sum(s.frames for s in group):6d} {truth:6d} {recall:7.3f}"
        )
    return "\n".join(lines)
