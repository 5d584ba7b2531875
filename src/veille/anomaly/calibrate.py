"""Learn a camera's normal from ordinary footage, streaming (memory does not grow with the footage)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from veille import __version__
from veille.anomaly.features import (
    FrameObs,
    MotionFeatures,
    analysis_frame_size,
    frame_interval,
    own_threads,
    window_grid,
)
from veille.anomaly.frames import gray_frames
from veille.anomaly.model import NormalModel, normal_quantiles
from veille.anomaly.profile import SAMPLE_FRAMES, CameraProfile, ProfileMeta, SourceVideo, bin_index
from veille.anomaly.store import CameraStore, check_name
from veille.errors import CameraProfileError
from veille.types import VideoInfo
from veille.video.probe import probe

MIN_SECONDS = 30.0
Span = tuple[float, float]


@dataclass(slots=True)
class Calibration:
    """What a calibration did."""

    profile: CameraProfile
    added: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    seconds: float = 0.0  # footage learned from in this run
    frames: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    path: Path | None = None


def fingerprint(path: Path) -> str:
    """A cheap identity for a video file: its size and a hash of its first and last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(size - (1 << 20))
            digest.update(handle.read(1 << 20))
    return f"{size}:{digest.hexdigest()[:32]}"


def size_mismatch(
    name: str, profile_size: tuple[int, int], info: VideoInfo, what: str | None = None
) -> CameraProfileError:
    """The one-line error for footage (``what``, by default its path) whose picture is not the camera's size."""
    pw, ph = profile_size
    return CameraProfileError(
        f"{what or info.path} is {info.width}x{info.height} but camera '{name}' was calibrated on {pw}x{ph} "
        "footage; use footage of the same camera and size, or another --camera"
    )


class Accumulator:
    """Adds frame observations into a profile's counts, keeping a fixed-size random sample of frames."""

    def __init__(self, profile: CameraProfile, seed: int = 0) -> None:
        self.profile = profile
        self.rng = np.random.default_rng(seed + profile.meta.frames)
        self.seen = profile.meta.frames
        self.moving = 0  # frames added here in which something moved
        self.sample = list(profile.sample.astype(np.float16))

    def add(self, obs: FrameObs) -> None:
        """Count one analysed frame."""
        p = self.profile
        active = obs.active
        p.active += active
        self.moving += bool(active.any())
        rows, cols = np.nonzero(active)
        for name, grid in (("energy", obs.energy), ("speed", obs.speed), ("size", obs.sizes())):
            values = grid[rows, cols]
            np.add.at(getattr(p, name), (rows, cols, bin_index(name, values)), 1.0)
        frame = np.where(active, np.maximum(obs.energy, 1e-6), 0.0).astype(np.float16)
        self.seen += 1
        if len(self.sample) < SAMPLE_FRAMES:
            self.sample.append(frame)
        else:
            slot = int(self.rng.integers(0, self.seen))
            if slot < SAMPLE_FRAMES:
                self.sample[slot] = frame

    def add_quiet(self, frames: int) -> None:
        """Count ``frames`` analysed frames in which nothing moved (without decoding them)."""
        quiet = np.zeros(self.profile.grid, np.float16)
        for _ in range(frames):
            self.seen += 1
            if len(self.sample) < SAMPLE_FRAMES:
                self.sample.append(quiet)
            elif (slot := int(self.rng.integers(0, self.seen))) < SAMPLE_FRAMES:
                self.sample[slot] = quiet

    def finish(self) -> CameraProfile:
        """The profile with its sample and the quantiles of normal scores filled in."""
        p = self.profile
        p.sample = np.stack(self.sample) if self.sample else np.zeros((0, *p.grid), np.float16)
        p.meta.normal_scores = normal_quantiles(NormalModel(p))
        return p


def new_profile(name: str, info: VideoInfo) -> CameraProfile:
    """An empty profile for camera ``name``, sized for ``info``'s picture."""
    size = analysis_frame_size(info.width, info.height)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    meta = ProfileMeta(
        name=name, width=info.width, height=info.height, analysis_size=size, frames=0, seconds=0.0,
        created_at=now, updated_at=now, veille_version=__version__,
    )  # fmt: skip
    return CameraProfile.empty(meta, window_grid(size))


def learn(
    profile: CameraProfile,
    sources: Sequence[tuple[VideoInfo, Sequence[Span] | None]],
    *,
    progress: Callable[[float], None] | None = None,
    cpu: list[float] | None = None,
    quiet_s: float = 0.0,
) -> tuple[int, float, list[SourceVideo]]:
    """Stream ``sources`` (videos, optionally only some spans of them) into ``profile``'s counts.

    ``quiet_s``: more seconds of footage known to hold no motion (counted, not decoded). Returns the
    frames analysed, the seconds of footage, and a record of each source. ``cpu``, when given, gets
    the CPU seconds of this thread and of the decoding thread added to its two items.
    """
    own, decode = time.thread_time(), [0.0]
    with own_threads():
        out = _learn(profile, sources, progress, decode, quiet_s)
    if cpu is not None:
        cpu[0] += time.thread_time() - own
        cpu[1] += decode[0]
    return out


def _learn(profile, sources, progress, decode: list[float], quiet_s: float) -> tuple[int, float, list[SourceVideo]]:
    acc = Accumulator(profile)
    total_frames, total_s, done_s = 0, 0.0, 0.0
    records: list[SourceVideo] = []
    size = tuple(profile.meta.analysis_size)
    for info, spans in sources:
        interval = frame_interval(info.fps)
        features = MotionFeatures(size)
        frames = 0
        for item in gray_frames(info, size, interval, spans, decode):
            if item.fresh:
                features.reset()
            obs = features.update(item.image, item.t_s)
            if obs is not None:
                acc.add(obs)
                frames += 1
                if progress is not None and frames % 50 == 0:
                    progress(done_s + item.t_s)
        seconds = frames * interval
        records.append(SourceVideo(path=str(info.path), fingerprint="", duration_s=round(seconds, 3), frames=frames))
        total_frames += frames
        total_s += seconds
        done_s += info.duration_s
    quiet = round(quiet_s / frame_interval(sources[0][0].fps)) if quiet_s > 0 and sources else 0
    acc.add_quiet(quiet)
    profile.meta.frames += total_frames + quiet
    profile.meta.moving_frames += acc.moving
    profile.meta.seconds = round(profile.meta.seconds + total_s + quiet_s, 3)
    acc.finish()
    return total_frames, total_s, records


def calibrate(
    videos: Sequence[Path],
    name: str,
    store: CameraStore,
    *,
    min_seconds: float = MIN_SECONDS,
    progress: Callable[[float], None] | None = None,
) -> Calibration:
    """Learn camera ``name``'s normal from ``videos`` and save its profile in ``store``.

    A camera that already has a profile learns the new footage on top of what it knew (videos it
    already learned from, recognised by their fingerprint, are skipped).

    Raises:
        CameraProfileError: a bad name, footage of another size than the camera's, a damaged or newer
            profile, or too little footage (the message says how much is needed).
    """
    check_name(name)
    started, cpu = time.perf_counter(), time.process_time()
    infos = [probe(Path(v)) for v in videos]
    profile = store.load(name) if store.exists(name) else new_profile(name, infos[0])
    known = {s.fingerprint for s in profile.meta.sources}
    fresh: list[tuple[VideoInfo, str]] = []
    result = Calibration(profile)
    for info in infos:
        if (info.width, info.height) != (profile.meta.width, profile.meta.height):
            raise size_mismatch(name, (profile.meta.width, profile.meta.height), info)
        mark = fingerprint(info.path)
        if mark in known:
            result.skipped.append(info.path)
        else:
            known.add(mark)
            fresh.append((info, mark))
    if not fresh:
        return result
    _check_enough(profile, [i for i, _ in fresh], min_seconds)
    frames, seconds, records = learn(profile, [(info, None) for info, _ in fresh], progress=progress)
    if profile.meta.seconds < min_seconds:
        raise _too_short(profile.meta.seconds, min_seconds)
    for record, (info, mark) in zip(records, fresh, strict=True):
        record.fingerprint = mark
        result.added.append(info.path)
    profile.meta.sources += records
    profile.meta.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
    profile.meta.veille_version = __version__
    result.frames, result.seconds = frames, seconds
    result.path = store.save(profile)
    result.wall_s, result.cpu_s = time.perf_counter() - started, time.process_time() - cpu
    return result


def _check_enough(profile: CameraProfile, infos: Sequence[VideoInfo], min_seconds: float) -> None:
    have = profile.meta.seconds + sum(i.duration_s for i in infos)
    if have < min_seconds:
        raise _too_short(have, min_seconds)


def _too_short(have: float, need: float) -> CameraProfileError:
    return CameraProfileError(
        f"too little footage to learn from: {have:.1f} s; calibration needs at least {need:.0f} s of ordinary "
        "footage of this camera (more is better: an hour or more of a typical day)"
    )
