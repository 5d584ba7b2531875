"""Pixel motion in the spirit of Frigate: blur, running average, threshold, dilate, contours."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from veille.types import Box, MotionSample


class MotionDetector:
    """Stateful motion detector over a stream of small gray frames.

    Args:
        frame_size: (w, h) of the analysis frames.
        scale: factor mapping analysis pixels back to full-resolution pixels.
        pixel_threshold: gray-level difference that counts as change.
        alpha: running-average update rate.
        lighting_threshold: share of changed pixels above which the change is taken for a global
            lighting change: the background is recalibrated and no motion is reported.
        masks: polygons in 0..1 frame coordinates whose pixels are ignored.
        min_area: smallest contour area (analysis pixels) kept as a box.
    """

    def __init__(
        self,
        frame_size: tuple[int, int],
        *,
        scale: float = 1.0,
        pixel_threshold: int = 25,
        alpha: float = 0.05,
        lighting_threshold: float = 0.8,
        masks: Sequence[Sequence[tuple[float, float]]] = (),
        min_area: int = 6,
    ) -> None:
        self.size = frame_size
        self.scale = scale
        self.pixel_threshold = pixel_threshold
        self.alpha = alpha
        self.lighting_threshold = lighting_threshold
        self.min_area = min_area
        self.mask = _mask_image(frame_size, masks)
        self.valid = float(self.mask.sum() / 255) if self.mask is not None else float(frame_size[0] * frame_size[1])
        self._avg: np.ndarray | None = None
        self._kernel = np.ones((3, 3), np.uint8)

    def reset(self) -> None:
        """Forget the background (e.g. after a jump in time)."""
        self._avg = None

    def background(self) -> np.ndarray | None:
        """The running background (a copy), to carry the detector over to another run."""
        return None if self._avg is None else self._avg.copy()

    def set_background(self, avg: np.ndarray | None) -> None:
        """Continue from a background returned by :meth:`background`."""
        self._avg = None if avg is None else np.ascontiguousarray(avg, dtype=np.float32)

    def update(self, gray: np.ndarray, t_s: float) -> MotionSample:
        """Feed one frame; return its motion score (share of pixels changed) and boxes."""
        blurred = cv2.GaussianBlur(gray, (5, 5), 0).astype(np.float32)
        if self._avg is None:
            self._avg = blurred
            return MotionSample(t_s, 0.0)
        diff = cv2.absdiff(blurred, self._avg)
        cv2.accumulateWeighted(blurred, self._avg, self.alpha)
        thresh: np.ndarray = (diff > self.pixel_threshold).astype(np.uint8) * 255
        if self.mask is not None:
            thresh = cv2.bitwise_and(thresh, self.mask)
        share = float(np.count_nonzero(thresh)) / max(self.valid, 1.0)
        if share >= self.lighting_threshold:
            self._avg = blurred  # recalibrate: a global change, not an event
            return MotionSample(t_s, 0.0, lighting_change=True)
        if share == 0.0:
            return MotionSample(t_s, 0.0)
        return MotionSample(t_s, share, self._boxes(thresh))

    def _boxes(self, thresh: np.ndarray) -> tuple[Box, ...]:
        dilated = cv2.dilate(thresh, self._kernel, iterations=2)
        contours, _ = cv2.findContours(dilated, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) < self.min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            s = self.scale
            boxes.append(Box("motion", (x * s, y * s, (x + w) * s, (y + h) * s)))
        return tuple(boxes)


def _mask_image(size: tuple[int, int], polygons: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray | None:
    if not polygons:
        return None
    w, h = size
    mask = np.full((h, w), 255, np.uint8)
    for polygon in polygons:
        points = np.array([[round(x * w), round(y * h)] for x, y in polygon], np.int32)
        cv2.fillPoly(mask, [points], 0)
    return mask
