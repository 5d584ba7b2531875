"""Report folders written as veille writes them (schema-v1 models), and a tiny deterministic embedder."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from veille.folders import SOURCE_FILE
from veille.report.schema import Report, ReportAnomaly, ReportEvent, ReportKeyframe, VideoMeta

#: (title, description, threat) of a few surveillance events.
EVENTS: tuple[tuple[str, str, int], ...] = (
    ("Cyclist crossing the path", "A cyclist crosses the footpath from left to right and rides off.", 0),
    ("Car parked", "A grey car is parked in the second bay; nobody is near it.", 0),
    ("Man tries the back door", "A man in a dark hoodie pulls the handle of the back door twice.", 1),
    ("White van at the gate", "A white van with plate AB-123-CD stops at the gate for a minute.", 1),
    ("Fire in the bin", "Smoke and flames rise from the bin beside the loading dock.", 2),
)


def write_report(
    out: Path,
    folder: str,
    events: Sequence[tuple[str, str, int]],
    *,
    video: str | None = None,
    starts: Sequence[float] | None = None,
    camera: str | None = None,
    anomaly: Sequence[float | None] | None = None,
) -> Path:
    """``out/folder/report.json`` holding ``events`` (title, description, threat), 10 s apart by default."""
    path = out / folder
    (path / "thumbs").mkdir(parents=True, exist_ok=True)
    starts = starts if starts is not None else [10.0 * i for i in range(len(events))]
    report_events = []
    for i, ((title, description, threat), start) in enumerate(zip(events, starts, strict=True)):
        image = f"thumbs/event{i:03d}_0.jpg"
        report_events.append(
            ReportEvent(
                id=i,
                start_s=start,
                end_s=start + 8.0,
                title=title,
                description=description,
                threat_level=threat,  # type: ignore[arg-type]
                confidence=0.8,
                source="vlm",
                keyframes=[ReportKeyframe(t_s=start + 1, image=image)],
                anomaly_score=None if anomaly is None else anomaly[i],
            )
        )
    source = video or f"/videos/{folder}.mp4"
    report = Report(
        video=VideoMeta(
            path=source, duration_s=600.0, fps=25.0, width=320, height=180, frame_count=15000, codec="h264"
        ),
        events=report_events,
        anomaly=None if camera is None else ReportAnomaly(camera=camera, threshold=1.0),
    )
    (path / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (path / SOURCE_FILE).write_text(source + "\n", encoding="utf-8")
    return path


class HashEmbedder:
    """A stand-in embedder: each word adds to one of ``dim`` slots (crc32), rows normalised."""

    def __init__(self, name: str = "test/hash-words", dim: int = 64) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.strip(".,").encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
