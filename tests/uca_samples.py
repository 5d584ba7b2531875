"""A tiny file in the UCA format (real UCA sentences are longer; these are short on purpose).

Each fighting video has two fights and three moments that could be from any video ("a man walks into
the shop"); the normal videos have the same kind of ordinary moments. Only the video's context says
which ordinary moments belong to a fight.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ORDINARY = [
    "A man walks into the shop and looks around.",
    "A woman stands near the counter.",
    "Two people talk at the entrance of the store.",
    "A customer walks along the aisle.",
    "A man stands by the door and waits.",
    "People walk past the shop window.",
]
FIGHTS = [
    "Two men start punching each other violently.",
    "The men fight and one kicks the other to the ground.",
    "A brawl breaks out and people hit each other.",
    "A man attacks another man and they wrestle on the floor.",
]
FIRES = [
    "A man pours gasoline on a car and sets it on fire.",
    "Flames spread over the car and thick smoke rises.",
]


def _video(sentences: list[str]) -> dict[str, Any]:
    stamps = [[5.0 * i, 5.0 * i + 4.0] for i in range(len(sentences))]
    return {"duration": 5.0 * len(sentences), "timestamps": stamps, "sentences": sentences}


def tiny_uca() -> dict[str, Any]:
    """Two fighting videos, one arson video and four normal videos (31 events)."""
    return {
        "Fighting001_x264": _video([ORDINARY[0], FIGHTS[0], FIGHTS[1], ORDINARY[1], ORDINARY[2]]),
        "Fighting002_x264": _video([ORDINARY[3], FIGHTS[2], ORDINARY[4], FIGHTS[3], ORDINARY[5]]),
        "Arson001_x264": _video([ORDINARY[5], FIRES[0], FIRES[1]]),
        "Normal_Videos_001_x264": _video(ORDINARY[:5]),
        "Normal_Videos_002_x264": _video(ORDINARY[1:6]),
        "Normal_Videos_003_x264": _video([ORDINARY[0], ORDINARY[2], ORDINARY[4]]),
        "Normal_Videos_004_x264": _video([ORDINARY[1], ORDINARY[3], ORDINARY[5], ORDINARY[0], ORDINARY[2]]),
    }


TINY_QUERIES = [
    {"query": "people fighting", "category": "Fighting"},
    {"query": "someone sets a fire", "category": "Arson"},
]


def write_tiny(folder: Path) -> tuple[Path, Path]:
    """The tiny UCA file and its queries file in ``folder``."""
    uca, queries = folder / "tiny_uca.json", folder / "tiny_queries.json"
    uca.write_text(json.dumps(tiny_uca()), encoding="utf-8")
    queries.write_text(json.dumps(TINY_QUERIES), encoding="utf-8")
    return uca, queries
