"""A hand-made report with hostile strings, for the writer, console and browser tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veille.report.build import build_report
from veille.report.schema import ModelInfo, Report, Stats
from veille.types import Box, Event, Keyframe, Segment, VideoInfo

HOSTILE_NAME = '<img src=x onerror=alert(1)>&"cam[1]*.mp4'
HOSTILE_TITLE = "<script>alert('t')</script> [bold red]boom[/] *x*"
HOSTILE_TEXT = "Man at door --> leaves. <b>bold</b> [link](javascript:alert(1)) # not a heading\n\n2 -- 3 {\\an8}"
TITLES = ("Person tries the back door", HOSTILE_TITLE, "Car parks in the loading bay")


def _frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((180, 320, 3), (90, 100, 96), np.uint8)
    image[:80] = (150, 160, 180)
    x = int(rng.integers(20, 260))
    image[100:160, x : x + 30] = (200, 80, 80)
    return image


def hostile_report(folder: Path) -> Report:
    """Three events (threat 0, 2, 1) with thumbnails written under ``folder/thumbs``."""
    info = VideoInfo(Path("/videos") / HOSTILE_NAME, 120.0, 25.0, 320, 180, 3000, "h264")
    events = []
    for i, (title, level, start) in enumerate(zip(TITLES, (0, 2, 1), (5.0, 40.0, 90.0), strict=True)):
        keyframes = tuple(
            Keyframe(start + k, _frame(10 * i + k), 0.1, (Box("person" if k else "motion", (40, 90, 120, 170)),))
            for k in range(2)
        )
        text = HOSTILE_TEXT if level == 2 else f"Event {i} seen near the door."
        events.append(Event(i, start, start + 12.5, title, text, level, 0.8 - 0.1 * i, "vlm", keyframes))
    segments = [Segment(i, e.start_s - 1, e.end_s + 1, 0.3) for i, e in enumerate(events)]
    stats = Stats(frames_total=3000, packets_scanned=3000, frames_decoded=600, frames_to_vlm=12, vlm_calls=3)
    return build_report(
        info=info,
        segments=segments,
        events=events,
        folder=folder,
        stats=stats,
        summary="Someone <u>tried</u> the door & left; a car parked.",
        models={"describer": ModelInfo(id="<evil>/model", device="cpu", dtype="bf16"), "grounder": None},
        warnings=["context was <i>ignored</i>"],
    )
