"""One storyboard image per chunk: its keyframes as tiles of one picture, at the describer's input size.

On a CPU the describer's cost is mostly its vision encoder and prompt, both proportional to the
number of images; a storyboard shows a chunk's keyframes as one image (Kim et al., "An Image Grid
Can Be Worth a Video", 2024). CCTV subjects are often small in a wide frame, so every tile shows the
same part of the frame: the region where the chunk's motion was seen, with a margin, never less than
a share of the frame, never so small that it would be enlarged, and the whole frame when motion
covers most of it. Each tile keeps the frame's shape as the describer's processor would squeeze a
whole frame into its square input; the tiles are read left to right, top to bottom, and each has its
time written small in a corner. Evidence (thumbnails, grounding, clips) keeps the full keyframes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from veille.i18n import clock
from veille.types import Chunk, Keyframe

if TYPE_CHECKING:
    import numpy as np

#: The storyboard's size when the describer does not say what it takes (``image_size``).
DEFAULT_SIZE = (768, 768)
SEPARATOR = (255, 255, 255)
EMPTY = (0, 0, 0)

Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the upright frame


@dataclass(frozen=True, slots=True)
class CropRule:
    """How a tile's view is chosen around the motion (shares are of the frame's width and height)."""

    margin: float = 0.25  # added on each side of the motion region, as a share of its size
    min_share: float = 0.3  # a tile never shows less than this share of the frame's width and height
    whole_above: float = 0.8  # a view this large (or larger) becomes the whole frame


def native_size(vlm: Any) -> tuple[int, int]:
    """(width, height) of the image the describer takes in at its own resolution.

    Backends that know it say so with an ``image_size`` attribute; others get :data:`DEFAULT_SIZE`.
    """
    size = getattr(vlm, "image_size", None)
    if isinstance(size, int) and size > 0:
        return size, size
    if isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return size[0], size[1]
    return DEFAULT_SIZE


def grid_for(count: int, frame_aspect: float, canvas_aspect: float = 1.0) -> tuple[int, int]:
    """(columns, rows) for ``count`` tiles whose shape is nearest the frame's, with no empty row or column.

    On a square canvas: 2×2 for 4; for 16:9 or 4:3 footage one column of 2 and 2 columns of 3 rows.
    """
    if count <= 1:
        return 1, 1
    options = []
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        empty = cols * rows - count
        if empty < min(cols, rows):
            misfit = abs(math.log(canvas_aspect * rows / cols / frame_aspect))
            options.append((round(misfit, 6), empty, cols, rows))
    _, _, cols, rows = min(options)
    return cols, rows


def motion_region(chunk: Chunk) -> Region | None:
    """The union of the motion boxes of the chunk and of its keyframes (None: no motion box)."""
    boxes = [b.xyxy for b in chunk.motion_boxes] + [b.xyxy for k in chunk.keyframes for b in k.boxes]
    if not boxes:
        return None
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def view_for(
    frame_w: int, frame_h: int, region: Region | None, tile_w: int, tile_h: int, rule: CropRule = CropRule()
) -> tuple[int, int, int, int]:
    """The part of a ``frame_w`` × ``frame_h`` frame a tile shows: (x0, y0, x1, y1), the frame's shape.

    Around ``region`` plus the margin; at least ``min_share`` of the frame and at least the tile's
    size in pixels (a view is never enlarged past the source); the whole frame without a region, or
    when the view would take ``whole_above`` of the frame or more.
    """
    if region is None:
        return 0, 0, frame_w, frame_h
    x0, y0, x1, y1 = region
    width, height = max(1.0, x1 - x0), max(1.0, y1 - y0)
    need_w, need_h = width * (1 + 2 * rule.margin), height * (1 + 2 * rule.margin)
    scale = max(need_w / frame_w, need_h / frame_h, rule.min_share, tile_w / frame_w, tile_h / frame_h)
    if scale >= rule.whole_above:
        return 0, 0, frame_w, frame_h
    view_w, view_h = round(scale * frame_w), round(scale * frame_h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(min(max(0.0, cx - view_w / 2), frame_w - view_w))
    top = int(min(max(0.0, cy - view_h / 2), frame_h - view_h))
    return left, top, left + view_w, top + view_h


def cells(size: tuple[int, int], cols: int, rows: int, separator: int) -> list[tuple[int, int, int, int]]:
    """Each tile's (x0, y0, x1, y1) on the canvas, row by row; the separators fill what lies between."""
    width, height = size
    xs = [round(c * (width + separator) / cols) for c in range(cols + 1)]
    ys = [round(r * (height + separator) / rows) for r in range(rows + 1)]
    return [(xs[c], ys[r], xs[c + 1] - separator, ys[r + 1] - separator) for r in range(rows) for c in range(cols)]


def compose(
    keyframes: Sequence[Keyframe],
    size: tuple[int, int],
    region: Region | None = None,
    rule: CropRule = CropRule(),
) -> tuple[np.ndarray, bool]:
    """The storyboard of ``keyframes`` (RGB ``uint8``, ``size`` = (width, height)) and whether it is zoomed in.

    Every tile shows the same view of its frame (see :func:`view_for`), squeezed into the tile as the
    describer would squeeze a whole frame; its time is written in its top-left corner.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    width, height = size
    frame_h, frame_w = pixels(keyframes[0]).shape[:2]
    cols, rows = grid_for(len(keyframes), frame_w / frame_h, width / height)
    separator = max(1, round(min(width, height) / 192))
    canvas = Image.new("RGB", (width, height), SEPARATOR if len(keyframes) > 1 else EMPTY)
    places = cells(size, cols, rows, separator)
    for x0, y0, x1, y1 in places[len(keyframes) :]:
        canvas.paste(EMPTY, (x0, y0, x1, y1))
    zoomed = False
    draw = ImageDraw.Draw(canvas)
    font = _font(height // rows)
    for keyframe, (x0, y0, x1, y1) in zip(keyframes, places, strict=False):
        image = pixels(keyframe)
        h, w = image.shape[:2]
        view = view_for(w, h, region, x1 - x0, y1 - y0, rule)
        zoomed = zoomed or view != (0, 0, w, h)
        tile = Image.fromarray(image[view[1] : view[3], view[0] : view[2]])
        canvas.paste(tile.resize((x1 - x0, y1 - y0), Image.Resampling.BICUBIC, reducing_gap=2.0), (x0, y0))
        if font is not None:
            _label(draw, font, clock(keyframe.t_s), x0, y0)
    return np.asarray(canvas), zoomed


def pixels(keyframe: Keyframe) -> np.ndarray:
    """The keyframe's image; a keyframe whose image was dropped (after its thumbnail) cannot be shown."""
    if keyframe.image is None:
        raise ValueError(f"the keyframe at {keyframe.t_s:.2f} s no longer holds its image")
    return keyframe.image


def storyboard(chunk: Chunk, size: tuple[int, int], rule: CropRule = CropRule()) -> tuple[np.ndarray, bool]:
    """The chunk's keyframes as one storyboard around its motion (see :func:`compose`)."""
    return compose(chunk.keyframes, size, motion_region(chunk), rule)


def _font(tile_h: int) -> Any:
    """A font about a twelfth of the tile's height (none when the tile is too small to carry a label)."""
    from PIL import ImageFont

    points = max(9, min(24, tile_h // 12))
    if tile_h < 4 * points:
        return None
    return ImageFont.load_default(size=points)


def _label(draw: Any, font: Any, text: str, x: int, y: int) -> None:
    """``text`` in white on a black box at the tile's top-left corner."""
    _, _, right, bottom = draw.textbbox((x + 3, y + 2), text, font=font)
    draw.rectangle((x, y, right + 3, bottom + 2), fill=(0, 0, 0))
    draw.text((x + 3, y + 2), text, fill=(255, 255, 255), font=font)
