"""``veille eval anomaly``: frame-level ROC AUC on UCSD Ped1/Ped2, speeds, and a quiet highway.

For each of ``ucsd_ped1`` and ``ucsd_ped2`` under the data folder: calibrate on ``train/`` (normal
clips), score every ``Test*.mp4`` beside it, and compare each frame's score with the frame labels
of ``ground_truth.json``. The pooled AUC ranks all frames of all clips together with the scores as
they are (what a deployed system sees); the per-clip normalised AUC first min-max scales each
clip's scores (how most papers report, and optimistic: it knows each clip's range in advance).

``cdnet_highway`` holds no anomalies: the camera is calibrated on the first 60 % of the clip and
the share of the rest whose score passes the camera's normal 99th percentile is reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veille.anomaly.calibrate import learn, new_profile
from veille.anomaly.profile import CameraProfile
from veille.anomaly.score import AnomalyCurve, score_video
from veille.errors import InputNotFoundError
from veille.video.probe import probe

DATASETS = ("ucsd_ped2", "ucsd_ped1")


@dataclass(slots=True)
class DatasetScore:
    """How the scores of one dataset's test clips rank its anomalous frames."""

    dataset: str
    train_clips: int
    test_clips: int
    frames: int
    anomalous: int
    pooled_auc: float
    normalised_auc: float
    clip_auc: dict[str, float] = field(default_factory=dict)
    calibration_s: float = 0.0  # footage learned from
    calibration_wall_s: float = 0.0
    calibration_cpu_s: float = 0.0  # the whole process
    calibration_threads_s: tuple[float, float] = (0.0, 0.0)  # CPU of the statistics thread, the decoding thread
    scored_s: float = 0.0  # footage scored
    scoring_wall_s: float = 0.0
    scoring_cpu_s: float = 0.0
    scoring_threads_s: tuple[float, float] = (0.0, 0.0)


@dataclass(slots=True)
class QuietCheck:
    """A camera scored on more of its own ordinary footage."""

    clip: str
    calibration_s: float
    scored_s: float
    flagged_share: float
    threshold: float
    max_score: float


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), by ranks; NaN without both classes."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def frame_scores(curve: AnomalyCurve, frames: int, fps: float) -> np.ndarray:
    """One score per video frame: the last curve point at or before it (0 before the first)."""
    times, values = np.asarray(curve.times, np.float64), np.r_[0.0, np.asarray(curve.scores, np.float64)]
    return values[np.searchsorted(times, np.arange(frames) / fps + 1e-6)]


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


@dataclass(slots=True)
class Timed:
    """A profile learned for an evaluation, and what learning it took."""

    profile: CameraProfile
    seconds: float
    wall_s: float
    cpu_s: float
    threads_s: tuple[float, float]


def calibrate_on(name: str, videos: list[Path]) -> Timed:
    """A profile learned from ``videos`` (not saved), with the footage's length and the time taken."""
    started, cpu, threads = time.perf_counter(), time.process_time(), [0.0, 0.0]
    infos = [probe(v) for v in videos]
    profile = new_profile(name, infos[0])
    _, seconds, _ = learn(profile, [(i, None) for i in infos], cpu=threads)
    return Timed(profile, seconds, time.perf_counter() - started, time.process_time() - cpu, (threads[0], threads[1]))


def evaluate_dataset(folder: Path) -> DatasetScore:
    """Calibrate on ``folder/train`` and score every test clip of ``folder``."""
    truth = json.loads((folder / "ground_truth.json").read_text())["clips"]
    train = sorted((folder / "train").glob("*.mp4"))
    clips = sorted(p for p in folder.glob("Test*.mp4") if p.stem in truth)
    if not train or not clips:
        raise InputNotFoundError(f"{folder} needs train/*.mp4 and Test*.mp4 with ground_truth.json")
    learned = calibrate_on(folder.name, train)
    profile = learned.profile
    result = DatasetScore(folder.name, len(train), len(clips), 0, 0, 0.0, 0.0, calibration_s=learned.seconds)
    result.calibration_wall_s, result.calibration_cpu_s = learned.wall_s, learned.cpu_s
    result.calibration_threads_s = learned.threads_s
    scores, norms, labels = [], [], []
    flow_cpu = decode_cpu = 0.0
    for clip in clips:
        info = probe(clip)
        curve = score_video(info, profile)
        label = np.array([c == "1" for c in truth[clip.stem]["frame_labels"]])
        score = frame_scores(curve, len(label), info.fps or 10.0)
        scores.append(score)
        norms.append(_minmax(score))
        labels.append(label)
        result.clip_auc[clip.stem] = roc_auc(score, label)
        result.scored_s += info.duration_s
        result.scoring_wall_s += curve.wall_s
        result.scoring_cpu_s += curve.cpu_s
        flow_cpu, decode_cpu = flow_cpu + curve.flow_cpu_s, decode_cpu + curve.decode_cpu_s
    result.scoring_threads_s = (flow_cpu, decode_cpu)
    all_labels = np.concatenate(labels)
    result.frames, result.anomalous = len(all_labels), int(all_labels.sum())
    result.pooled_auc = roc_auc(np.concatenate(scores), all_labels)
    result.normalised_auc = roc_auc(np.concatenate(norms), all_labels)
    return result


def quiet_check(video: Path, share: float = 0.6) -> QuietCheck:
    """Calibrate on the first ``share`` of ``video``, score the rest, count what passes the normal p99."""
    info = probe(video)
    cut = info.duration_s * share
    profile = new_profile(video.stem, info)
    _, seconds, _ = learn(profile, [(info, [(0.0, cut)])])
    curve = score_video(info, profile, [(cut, info.duration_s + 1.0)])
    scores = np.array(curve.scores[:-1] if curve.scores and curve.scores[-1] == 0.0 else curve.scores)
    threshold = curve.threshold
    flagged = float((scores > threshold).mean()) if scores.size else 0.0
    top = float(scores.max()) if scores.size else 0.0
    return QuietCheck(video.stem, seconds, info.duration_s - cut, flagged, threshold, top)


def evaluate_anomaly(data_dir: Path) -> tuple[list[DatasetScore], QuietCheck | None]:
    """Every UCSD dataset found under ``data_dir``, and the highway check when its clip is there."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputNotFoundError(f"{data_dir} is not a folder; give the data folder with --data")
    results = [evaluate_dataset(data_dir / name) for name in DATASETS if (data_dir / name / "train").is_dir()]
    highway = data_dir / "cdnet_highway" / "highway_0001-0850.mp4"
    quiet = quiet_check(highway) if highway.is_file() else None
    if not results and quiet is None:
        raise InputNotFoundError(f"no ucsd_ped1/, ucsd_ped2/ (with train/) or cdnet_highway/ under {data_dir}")
    return results, quiet
