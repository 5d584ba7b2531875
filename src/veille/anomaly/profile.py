"""A camera profile: what normal looks like for one camera, per window of its picture.

On disk a profile is one ``.npz`` file (NumPy arrays, read with ``allow_pickle=False``; never a
pickle): a ``meta`` entry holding versioned JSON (:class:`ProfileMeta`), and per window of the
analysis grid the counts of what calibration saw:

- ``active``: in how many analysed frames the window moved;
- ``energy``, ``speed``, ``size``: histograms (log-spaced bins, see :data:`BINS`) of those
  observations (see :mod:`veille.anomaly.features`) over the frames where it moved;
- ``sample``: a fixed-size random sample of whole calibration frames (each window's energy where
  it moved, 0 elsewhere), from which the scores of normal footage are known;
- ``duration``: a histogram per window of how long its runs of movement lasted, in seconds
  (see :mod:`veille.anomaly.timing`);
- ``hour_frames`` (24) and ``hour_active`` (24, rows, cols): per hour of the day, the analysed
  frames with a known wall-clock time and, per window, those in which it moved.

Format 1 (before durations and hours were kept) is still read: those counts are then empty, and
scoring uses neither (``veille cameras show`` says so).

Counts only add up, so calibrating again with more footage merges into the same profile, and an
hour of footage takes no more memory than a minute.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veille.errors import CameraProfileError

PROFILE_FORMAT = 2
SAMPLE_FRAMES = 512

#: log10 range and bin count of each histogram (energy and speed in frame heights per second,
#: size as a share of the frame's area)
BINS: dict[str, tuple[float, float, int]] = {
    "energy": (-5.0, 1.0, 60),
    "speed": (-3.0, 2.0, 50),
    "size": (-5.0, 0.0, 50),
    "duration": (-1.0, 4.0, 50),  # seconds: 0.1 s to 2.8 hours
}
HOURS = 24


def bin_index(name: str, values: np.ndarray) -> np.ndarray:
    """The histogram bin of each value (values outside the range go to the end bins)."""
    low, high, count = BINS[name]
    scaled = (np.log10(np.maximum(values, 1e-12)) - low) / (high - low) * count
    return np.clip(scaled.astype(np.int64), 0, count - 1)


def bin_value(name: str, position: np.ndarray) -> np.ndarray:
    """The value at a (fractional) bin position: the inverse of :func:`bin_index`."""
    low, high, count = BINS[name]
    return 10.0 ** (low + np.asarray(position, dtype=np.float64) * (high - low) / count)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceVideo(_Strict):
    """A video the profile learned from."""

    path: str
    fingerprint: str
    duration_s: float = Field(ge=0)
    frames: int = Field(ge=0, description="frames analysed")
    start: str = Field("", description="local wall-clock time of its first frame (ISO 8601), '' when unknown")
    start_from: str = Field("", description="what told the start: 'file name', 'metadata' or 'file time'")


class ProfileMeta(_Strict):
    """What a profile says about itself (the JSON part of the file)."""

    format: int = PROFILE_FORMAT
    name: str
    width: int = Field(gt=0, description="width of the camera's picture, upright")
    height: int = Field(gt=0)
    analysis_size: tuple[int, int]
    frames: int = Field(ge=0, description="frames analysed in all")
    moving_frames: int = Field(0, ge=0, description="analysed frames in which something moved")
    seconds: float = Field(ge=0, description="seconds of footage learned from")
    sources: list[SourceVideo] = Field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    veille_version: str = ""
    normal_scores: dict[str, float] = Field(
        default_factory=dict, description="quantiles of the frame scores of the calibration footage"
    )


@dataclass(slots=True)
class CameraProfile:
    """A profile in memory: its metadata and its per-window counts."""

    meta: ProfileMeta
    active: np.ndarray
    energy: np.ndarray
    speed: np.ndarray
    size: np.ndarray
    sample: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.float16))
    duration: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, BINS["duration"][2])))
    hour_frames: np.ndarray = field(default_factory=lambda: np.zeros(HOURS))
    hour_active: np.ndarray = field(default_factory=lambda: np.zeros((HOURS, 0, 0)))

    @classmethod
    def empty(cls, meta: ProfileMeta, grid: tuple[int, int]) -> CameraProfile:
        """A profile that has seen nothing yet, for a window grid of (rows, columns)."""
        hist = {name: np.zeros((*grid, BINS[name][2]), np.float64) for name in BINS}
        return cls(
            meta, np.zeros(grid, np.float64), hist["energy"], hist["speed"], hist["size"], np.zeros((0, *grid)),
            hist["duration"], np.zeros(HOURS), np.zeros((HOURS, *grid)),
        )  # fmt: skip

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the window grid."""
        return self.active.shape[0], self.active.shape[1]

    @property
    def knows_time(self) -> bool:
        """Whether durations and hours were kept (format 2 on; an older profile counted neither)."""
        return self.meta.format >= 2


def to_bytes(profile: CameraProfile) -> bytes:
    """The profile as the bytes of an ``.npz`` file."""
    buffer = io.BytesIO()
    meta = np.frombuffer(profile.meta.model_dump_json().encode("utf-8"), np.uint8)
    np.savez_compressed(
        buffer,
        meta=meta,
        active=profile.active.astype(np.float64),
        energy=profile.energy.astype(np.float32),
        speed=profile.speed.astype(np.float32),
        size=profile.size.astype(np.float32),
        sample=profile.sample.astype(np.float16),
        duration=profile.duration.astype(np.float32),
        hour_frames=profile.hour_frames.astype(np.float64),
        hour_active=profile.hour_active.astype(np.float32),
    )
    return buffer.getvalue()


def from_file(path: Path) -> CameraProfile:
    """Read a profile file.

    Raises:
        CameraProfileError: the file is damaged, is not a profile, or was written by a newer veille.
    """
    name = path.stem
    again = f"calibrate it again (veille calibrate VIDEO... --camera {name})"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        raw = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CameraProfileError(f"camera profile '{name}' ({path}) is damaged or not a profile; {again}") from exc
    version = raw.get("format") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > PROFILE_FORMAT:
        raise CameraProfileError(
            f"camera profile '{name}' was written by a newer veille (profile format {version}; this one reads "
            f"format {PROFILE_FORMAT}); update veille or {again}"
        )
    try:
        meta = ProfileMeta.model_validate(raw)
        if meta.format < 2:  # durations and hours were not kept yet: empty counts
            grid = arrays["active"].shape
            arrays.update(duration=np.zeros((*grid, BINS["duration"][2])), hour_frames=np.zeros(HOURS))
            arrays["hour_active"] = np.zeros((HOURS, *grid))
        profile = CameraProfile(meta, **{key: arrays[key].astype(np.float64) for key in _ARRAYS})
    except (ValidationError, KeyError, TypeError) as exc:
        message = f"camera profile '{name}' ({path}) is damaged (bad or missing fields); {again}"
        raise CameraProfileError(message) from exc
    _check_shapes(profile, name, again)
    return profile


_ARRAYS = ("active", "energy", "speed", "size", "sample", "duration", "hour_frames", "hour_active")


def _check_shapes(profile: CameraProfile, name: str, again: str) -> None:
    if profile.active.ndim != 2:
        raise CameraProfileError(f"camera profile '{name}' is damaged (arrays active); {again}")
    grid = profile.grid
    expected: dict[str, tuple[int, ...]] = {key: (*grid, BINS[key][2]) for key in BINS}
    expected.update(hour_frames=(HOURS,), hour_active=(HOURS, *grid))
    bad = [key for key, shape in expected.items() if getattr(profile, key).shape != shape]
    if profile.sample.ndim != 3 or (profile.sample.size and profile.sample.shape[1:] != grid):
        bad.append("sample")
    finite = all(np.isfinite(getattr(profile, key)).all() for key in _ARRAYS)
    if bad or not finite:
        what = ", ".join(bad) or "not finite"
        raise CameraProfileError(f"camera profile '{name}' is damaged (arrays {what}); {again}")
