"""What the event stage of an analysis produced (motion-only or through the models)."""

from __future__ import annotations

from dataclasses import dataclass, field

from veille.backends.info import ModelInfo
from veille.types import Event


@dataclass(slots=True)
class EventsOutcome:
    """Events, summary, the models that ran and how often they were called."""

    events: list[Event]
    summary: str = ""
    models: dict[str, ModelInfo | None] = field(default_factory=dict)
    vlm_calls: int = 0
    llm_calls: int = 0
    frames_to_vlm: int = 0
    vlm_images: int = 0  # images the describer received (a storyboard is one)
    describe_layout: str | None = None  # "storyboard" | "frames"; None when nothing was described
    warnings: list[str] = field(default_factory=list)
    download_s: float = 0.0  # spent getting models (downloads and their retries), not analysing
