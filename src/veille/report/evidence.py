"""Evidence images: keyframes saved as JPEG with their boxes drawn.

Keyframes arrive upright (decoding turns footage stored sideways) and their boxes are in the
same upright pixel coordinates, so what is drawn is what a player shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from veille.io import write_bytes
from veille.types import Box

_COLORS = {"motion": (255, 196, 0)}
_DEFAULT = (0, 220, 120)


def draw_boxes(image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """A copy of the RGB ``image`` with ``boxes`` drawn and labelled."""
    out = np.ascontiguousarray(image.copy())
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for box in boxes:
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        color = _COLORS.get(box.label, _DEFAULT)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        if box.label != "motion":
            _label(out, box.label[:30], (x1, y1), color, thickness)
    return out


def _label(image: np.ndarray, text: str, corner: tuple[int, int], color: tuple[int, int, int], scale: int) -> None:
    """``text`` in dark letters on a ``color`` tag just above ``corner`` (inside the image)."""
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale
    (w, h), base = cv2.getTextSize(text, font, size, scale)
    x = min(max(0, corner[0]), max(0, image.shape[1] - w - 4))
    y = corner[1] - h - base - 4 if corner[1] - h - base - 4 >= 0 else corner[1]
    cv2.rectangle(image, (x, y), (x + w + 4, y + h + base + 4), color, -1)
    cv2.putText(image, text, (x + 2, y + h + 2), font, size, (20, 20, 20), scale, cv2.LINE_AA)


def save_jpeg(path: Path, image: np.ndarray, *, max_side: int = 960, quality: int = 85) -> None:
    """Save an RGB image as JPEG (atomically), shrunk so its longest side is at most ``max_side``."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode {path.name} as JPEG")
    write_bytes(path, data.tobytes())
