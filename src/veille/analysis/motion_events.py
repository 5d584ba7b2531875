"""Events from motion facts alone: useful with no model at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from veille.i18n import count
from veille.types import Box, Chunk, Event, Keyframe

# Where movement is, as a phrase with its preposition, keyed by (row, column); "" is the middle.
_PLACES: dict[str, dict[tuple[str, str], str]] = {
    "en": {
        ("", ""): "in the centre of the frame",
        ("upper", ""): "in the upper part of the frame",
        ("lower", ""): "in the lower part of the frame",
        ("", "left"): "on the left of the frame",
        ("", "right"): "on the right of the frame",
        ("upper", "left"): "in the upper left of the frame",
        ("upper", "right"): "in the upper right of the frame",
        ("lower", "left"): "in the lower left of the frame",
        ("lower", "right"): "in the lower right of the frame",
        ("upper", "wide"): "in the upper part of the frame, across its width",
        ("lower", "wide"): "in the lower part of the frame, across its width",
        ("", "wide"): "across the frame",
        ("most", ""): "over most of the frame",
        ("none", ""): "in the frame",
    },
    "fr": {
        ("", ""): "au centre de l'image",
        ("upper", ""): "en haut de l'image",
        ("lower", ""): "en bas de l'image",
        ("", "left"): "à gauche de l'image",
        ("", "right"): "à droite de l'image",
        ("upper", "left"): "en haut à gauche de l'image",
        ("upper", "right"): "en haut à droite de l'image",
        ("lower", "left"): "en bas à gauche de l'image",
        ("lower", "right"): "en bas à droite de l'image",
        ("upper", "wide"): "en haut de l'image, sur toute sa largeur",
        ("lower", "wide"): "en bas de l'image, sur toute sa largeur",
        ("", "wide"): "sur toute la largeur de l'image",
        ("most", ""): "sur la plus grande partie de l'image",
        ("none", ""): "dans l'image",
    },
}
_WORDS = {
    "en": ("Movement", "for {s} s", ", up to {n} moving regions"),
    "fr": ("Mouvement", "pendant {s} s", ", jusqu'à {n} zones en mouvement"),
}
# Where movement started and where it went: (from, to) phrases per place, then the sentence.
_SPOTS: dict[str, dict[tuple[str, str], tuple[str, str]]] = {
    "en": {
        ("", ""): ("the centre", "the centre"),
        ("upper", ""): ("the top", "the top"),
        ("lower", ""): ("the bottom", "the bottom"),
        ("", "left"): ("the left", "the left"),
        ("", "right"): ("the right", "the right"),
        ("upper", "left"): ("the upper left", "the upper left"),
        ("upper", "right"): ("the upper right", "the upper right"),
        ("lower", "left"): ("the lower left", "the lower left"),
        ("lower", "right"): ("the lower right", "the lower right"),
    },
    "fr": {
        ("", ""): ("du centre", "le centre"),
        ("upper", ""): ("du haut", "le haut"),
        ("lower", ""): ("du bas", "le bas"),
        ("", "left"): ("de la gauche", "la gauche"),
        ("", "right"): ("de la droite", "la droite"),
        ("upper", "left"): ("du haut à gauche", "le haut à gauche"),
        ("upper", "right"): ("du haut à droite", "le haut à droite"),
        ("lower", "left"): ("du bas à gauche", "le bas à gauche"),
        ("lower", "right"): ("du bas à droite", "le bas à droite"),
    },
}
_ROUTES = {
    "en": ("from {a} to {b} of the frame", " and back"),
    "fr": ("{a} vers {b} de l'image", " et retour"),
}
_ROWS = {"upper": 0, "": 1, "lower": 2}
_COLS = {"left": 0, "": 1, "right": 2}
Place = tuple[str, str]
Route = tuple[Place, Place, bool]  # where it started, where it went, whether it came back


def _place(boxes: Sequence[Box], width: int, height: int) -> tuple[str, str]:
    if not boxes or width <= 0 or height <= 0:
        return "none", ""
    x1 = min(b.xyxy[0] for b in boxes) / width
    y1 = min(b.xyxy[1] for b in boxes) / height
    x2 = max(b.xyxy[2] for b in boxes) / width
    y2 = max(b.xyxy[3] for b in boxes) / height
    if x2 - x1 > 0.7 and y2 - y1 > 0.7:
        return "most", ""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    row = "upper" if cy < 1 / 3 else "lower" if cy > 2 / 3 else ""
    col = "wide" if x2 - x1 > 0.7 else "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    return row, col


def where_in_frame(
    boxes: Sequence[Box], width: int, height: int, *, lang: str = "en", route: Route | None = None
) -> str:
    """Plain words for where ``boxes`` lie, with their preposition: "in the lower left of the frame",
    "across the frame", "en bas à gauche de l'image"… With a ``route`` (see :func:`motion_route`):
    where the movement started and where it went, "from the left to the right of the frame"."""
    if route is None:
        return _PLACES.get(lang, _PLACES["en"])[_place(boxes, width, height)]
    spots, (sentence, back) = _SPOTS.get(lang, _SPOTS["en"]), _ROUTES.get(lang, _ROUTES["en"])
    start, end, returned = route
    return sentence.format(a=spots[start][0], b=spots[end][1]) + (back if returned else "")


def motion_route(keyframes: Sequence[Keyframe], width: int, height: int) -> Route | None:
    """Where the movement seen on ``keyframes`` (in time order) started and where it went.

    ``None`` when it stayed in one place, or when the keyframes do not show it clearly (fewer than
    two with boxes, or boxes spread over the frame). When it ended where it started, the place
    farthest from the start is where it went, and the route says it came back.
    """
    places = [_place(k.boxes, width, height) for k in sorted(keyframes, key=lambda k: k.t_s) if k.boxes]
    places = [p for p in places if p[0] in _ROWS and p[1] in _COLS]
    if len(places) < 2:
        return None
    start, end = places[0], places[-1]
    if start != end:
        return start, end, False
    farthest = max(places, key=lambda p: _distance(start, p))
    return (start, farthest, True) if farthest != start else None


def _distance(a: Place, b: Place) -> int:
    return abs(_ROWS[a[0]] - _ROWS[b[0]]) + abs(_COLS[a[1]] - _COLS[b[1]])


def describe_motion(
    boxes: Sequence[Box],
    regions: int,
    duration_s: float,
    width: int,
    height: int,
    *,
    lang: str = "en",
    route: Route | None = None,
) -> str:
    """A one-sentence description of movement, e.g. "Movement in the lower left of the frame
    for 12 s, up to 3 moving regions.", "Movement from the left to the right of the frame for 8 s."."""
    noun, during, many = _WORDS.get(lang, _WORDS["en"])
    seconds = max(1, round(duration_s))
    text = f"{noun} {where_in_frame(boxes, width, height, lang=lang, route=route)} {during.format(s=seconds)}"
    if regions > 1:
        text += many.format(n=regions)
    return text + "."


def motion_title(
    boxes: Sequence[Box], width: int, height: int, *, lang: str = "en", route: Route | None = None
) -> str:
    """A short title for a motion-only event (at most 80 characters)."""
    noun = _WORDS.get(lang, _WORDS["en"])[0]
    return f"{noun} {where_in_frame(boxes, width, height, lang=lang, route=route)}"[:80]


def motion_events(
    chunks: Sequence[Chunk], width: int, height: int, *, keyframes: int = 4, lang: str = "en"
) -> list[Event]:
    """One event per segment, built from its chunks' motion facts (heartbeat chunks are skipped)."""
    by_segment: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        if not chunk.heartbeat:
            by_segment.setdefault(chunk.segment_id, []).append(chunk)
    events = []
    for event_id, group in enumerate(by_segment.values()):
        events.append(motion_event(event_id, group, width, height, keyframes=keyframes, lang=lang))
    return events


def motion_event(
    event_id: int, group: Sequence[Chunk], width: int, height: int, *, keyframes: int = 4, lang: str = "en"
) -> Event:
    """An event from a run of chunks, described by motion alone."""
    boxes = [b for c in group for b in c.motion_boxes]
    regions = max(c.max_regions for c in group)
    start, end = group[0].start_s, group[-1].end_s
    frames = sorted((_with_motion_boxes(k, c) for c in group for k in c.keyframes), key=lambda k: k.t_s)
    best = _spread(frames, keyframes)
    peak = max(c.peak_score for c in group)
    route = motion_route(frames, width, height)
    return Event(
        id=event_id,
        start_s=start,
        end_s=end,
        title=motion_title(boxes, width, height, lang=lang, route=route),
        description=describe_motion(boxes, regions, end - start, width, height, lang=lang, route=route),
        threat_level=0,
        confidence=round(min(1.0, 0.5 + peak * 5), 2),
        source="motion",
        keyframes=tuple(best),
        chunk_ids=tuple(c.id for c in group),
    )


def _with_motion_boxes(keyframe: Keyframe, chunk: Chunk) -> Keyframe:
    """The chunk's motion boxes are those of its strongest sample: draw them on the keyframe taken
    at that peak when the scan gave the keyframe no boxes of its own."""
    if keyframe.boxes or not chunk.motion_boxes or keyframe.score <= 0 or keyframe.score < chunk.peak_score:
        return keyframe
    return replace(keyframe, boxes=chunk.motion_boxes)


def _spread(frames: list[Keyframe], k: int) -> list[Keyframe]:
    if len(frames) <= k:
        return frames
    step = len(frames) / k
    return [max(frames[int(i * step) : int((i + 1) * step)], key=lambda f: f.score) for i in range(k)]


_SUMMARIES = {
    "en": (
        "No movement found in {d:.0f} s of video.",
        "{stretches}, {a:.0f} s in all, in {d:.0f} s of video (motion analysis only, no model).",
    ),
    "fr": (
        "Aucun mouvement dans {d:.0f} s de vidéo.",
        "{stretches}, {a:.0f} s en tout, sur {d:.0f} s de vidéo "
        "(analyse du mouvement seule, sans modèle).",
    ),
}


def motion_summary(duration_s: float, events: Sequence[Event], *, lang: str = "en") -> str:
    """The video's summary when only motion was analysed."""
    none, some = _SUMMARIES.get(lang, _SUMMARIES["en"])
    if not events:
        return none.format(d=duration_s)
    active = sum(e.end_s - e.start_s for e in events)
    return some.format(stretches=count(len(events), "stretch", lang), a=active, d=duration_s)
