"""JSON forms of the scan's working state, so that an interrupted scan resumes where it stopped.

Each stage of the scan (packet reader, packet baseline, keyframe check, pixel pass, segmenter,
chunk planner) gives its state as plain JSON values and takes it back; floats survive the round
trip exactly (``json`` writes their shortest exact form), images travel as compressed bytes.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

from veille.types import Box, MotionSample

#: How far before a target a resumed scan seeks, one try after another (a demuxer seeking by decoding
#: time can land on the keyframe just after the target).
SEEK_BACKOFF_S = (0.0, 2.0, 8.0, 32.0, 128.0)


class ResumeError(Exception):
    """A saved scan state cannot be continued on this file (the scan starts again from the beginning)."""


def array_state(array: np.ndarray | None) -> dict[str, Any] | None:
    """An array as JSON: dtype, shape and its zlib-compressed bytes in base64."""
    if array is None:
        return None
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 1)).decode("ascii")
    return {"dtype": str(array.dtype), "shape": list(array.shape), "data": data}


def array_from(state: dict[str, Any] | None) -> np.ndarray | None:
    """The array saved by :func:`array_state`."""
    if state is None:
        return None
    raw = zlib.decompress(base64.b64decode(state["data"]))
    return np.frombuffer(raw, dtype=np.dtype(state["dtype"])).reshape(state["shape"]).copy()


def box_state(box: Box) -> list[Any]:
    """A box as ``[label, x1, y1, x2, y2, score]``."""
    return [box.label, *box.xyxy, box.score]


def box_from(state: list[Any]) -> Box:
    """The box saved by :func:`box_state`."""
    label, x1, y1, x2, y2, score = state
    return Box(label, (x1, y1, x2, y2), score)


def sample_state(sample: MotionSample) -> list[Any]:
    """A motion sample as ``[t, score, boxes, lighting_change]``."""
    return [sample.t_s, sample.score, [box_state(b) for b in sample.boxes], sample.lighting_change]


def sample_from(state: list[Any]) -> MotionSample:
    """The motion sample saved by :func:`sample_state`."""
    t_s, score, boxes, lighting = state
    return MotionSample(t_s, score, tuple(box_from(b) for b in boxes), lighting)
