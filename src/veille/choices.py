"""The closed sets of values a setting may take: one definition for the settings and the CLI's choices.

Imports nothing heavy, so that the command line can offer them without loading pydantic.
"""

from __future__ import annotations

import typing
from typing import Literal

Profile = Literal["motion", "fast", "default", "full"]
Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "bf16", "fp16", "fp32"]
Format = Literal["json", "html", "md", "srt", "vtt"]
LayoutSetting = Literal["auto", "storyboard", "frames"]
ScanMode = Literal["auto", "packets", "pixels"]
Lifetime = Literal["stage", "video", "batch"]
Lang = Literal["en", "fr"]


def values(choice: object) -> list[str]:
    """The values of a ``Literal`` alias above, in order (for ``click.Choice``)."""
    return [str(v) for v in typing.get_args(choice)]
