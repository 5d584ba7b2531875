"""Motion-only events: plain-language place, title and description, in English and French."""

from __future__ import annotations

import numpy as np
import pytest

from veille.analysis.motion_events import (
    describe_motion,
    motion_events,
    motion_route,
    motion_summary,
    motion_title,
    where_in_frame,
)
from veille.types import Box, Chunk, Keyframe

W, H = 600, 300


def _box(x1: float, y1: float, x2: float, y2: float) -> Box:
    return Box("motion", (x1 * W, y1 * H, x2 * W, y2 * H))


@pytest.mark.parametrize(
    ("boxes", "en", "fr"),
    [
        ([_box(0.05, 0.8, 0.2, 0.95)], "in the lower left of the frame", "en bas à gauche de l'image"),
        ([_box(0.8, 0.05, 0.95, 0.2)], "in the upper right of the frame", "en haut à droite de l'image"),
        ([_box(0.45, 0.45, 0.55, 0.55)], "in the centre of the frame", "au centre de l'image"),
        ([_box(0.4, 0.8, 0.6, 0.9)], "in the lower part of the frame", "en bas de l'image"),
        ([_box(0.05, 0.4, 0.2, 0.6)], "on the left of the frame", "à gauche de l'image"),
        (
            [_box(0.0, 0.8, 1.0, 0.9)],
            "in the lower part of the frame, across its width",
            "en bas de l'image, sur toute sa largeur",
        ),
        ([_box(0.0, 0.4, 0.5, 0.6), _box(0.5, 0.4, 1.0, 0.6)], "across the frame", "sur toute la largeur de l'image"),
        ([_box(0.0, 0.0, 0.9, 0.95)], "over most of the frame", "sur la plus grande partie de l'image"),
        ([], "in the frame", "dans l'image"),
    ],
)
def test_where_in_frame(boxes: list[Box], en: str, fr: str) -> None:
    assert where_in_frame(boxes, W, H) == en
    assert where_in_frame(boxes, W, H, lang="fr") == fr


def test_description_and_title() -> None:
    boxes = [_box(0.05, 0.8, 0.2, 0.95)]
    assert describe_motion(boxes, 3, 12.2, W, H) == (
        "Movement in the lower left of the frame for 12 s, up to 3 moving regions."
    )
    assert describe_motion(boxes, 1, 0.2, W, H) == "Movement in the lower left of the frame for 1 s."
    assert describe_motion(boxes, 2, 5, W, H, lang="fr") == (
        "Mouvement en bas à gauche de l'image pendant 5 s, jusqu'à 2 zones en mouvement."
    )
    assert motion_title(boxes, W, H, lang="fr") == "Mouvement en bas à gauche de l'image"
    assert len(motion_title([_box(0.0, 0.8, 1.0, 0.9)], W, H, lang="fr")) <= 60


def test_peak_keyframe_gets_the_motion_boxes() -> None:
    image = np.zeros((H, W, 3), np.uint8)
    peak_box = _box(0.1, 0.7, 0.2, 0.9)
    own = Box("person", (1, 2, 3, 4))
    chunk = Chunk(
        0,
        0,
        2.0,
        9.0,
        keyframes=(Keyframe(3.0, image, 0.02), Keyframe(5.0, image, 0.05), Keyframe(7.0, image, 0.05, (own,))),
        motion_boxes=(peak_box,),
        max_regions=1,
        peak_score=0.05,
    )
    (event,) = motion_events([chunk], W, H, keyframes=4, lang="fr")
    assert [k.boxes for k in event.keyframes] == [(), (peak_box,), (own,)]
    assert event.title.startswith("Mouvement ") and event.source == "motion" and event.threat_level == 0


def test_motion_summary() -> None:
    image = np.zeros((H, W, 3), np.uint8)
    chunk = Chunk(0, 0, 2.0, 9.0, keyframes=(Keyframe(3.0, image, 0.02),), max_regions=1, peak_score=0.02)
    events = motion_events([chunk], W, H)
    assert motion_summary(60, events) == (
        "1 stretch of movement, 7 s in all, in 60 s of video (motion analysis only, no model)."
    )
    assert motion_summary(60, [], lang="fr") == "Aucun mouvement dans 60 s de vidéo."
    assert motion_summary(60, events, lang="fr").startswith("1 passage avec du mouvement, 7 s en tout")
    assert motion_summary(60, events * 2).startswith("2 stretches of movement, 14 s in all")
    assert motion_summary(60, events * 2, lang="fr").startswith("2 passages avec du mouvement, 14 s en tout")


def _walk(xs: list[float], y: float = 0.8) -> list[Keyframe]:
    image = np.zeros((H, W, 3), np.uint8)
    return [Keyframe(float(i), image, 0.05, (_box(x, y - 0.1, x + 0.08, y + 0.1),)) for i, x in enumerate(xs)]


def test_a_crossing_says_where_it_started_and_where_it_went() -> None:
    chunk = Chunk(0, 0, 0.0, 8.0, keyframes=tuple(_walk([0.02, 0.3, 0.6, 0.9])), max_regions=1, peak_score=0.05)
    (event,) = motion_events([chunk], W, H)
    assert event.title == "Movement from the lower left to the lower right of the frame"
    assert event.description == "Movement from the lower left to the lower right of the frame for 8 s."
    (french,) = motion_events([chunk], W, H, lang="fr")
    assert french.title == "Mouvement du bas à gauche vers le bas à droite de l'image"


def test_motion_route() -> None:
    route = motion_route(_walk([0.9, 0.5, 0.1], y=0.5), W, H)
    assert route == (("", "right"), ("", "left"), False)
    assert where_in_frame([], W, H, route=route) == "from the right to the left of the frame"
    there_and_back = motion_route(_walk([0.1, 0.5, 0.85, 0.5, 0.1], y=0.5), W, H)
    assert there_and_back == (("", "left"), ("", "right"), True)
    french = where_in_frame([], W, H, route=there_and_back, lang="fr")
    assert french == "de la gauche vers la droite de l'image et retour"
    assert motion_route(_walk([0.1, 0.15, 0.12]), W, H) is None  # it stayed on the left
    assert motion_route(_walk([0.1]), W, H) is None  # one keyframe cannot show a way


def test_the_sample_clip_crossing_is_titled_by_its_way(sample_clip, tmp_path) -> None:
    from veille.pipeline import analyze
    from veille.settings import Settings

    video, truth = sample_clip  # its first walker crosses from the left edge to the right one
    report = analyze(video, Settings(profile="motion", out_dir=tmp_path)).report
    first = min(report.events, key=lambda e: e.start_s)
    assert first.start_s <= truth["active_intervals"][0][0] + 1
    assert first.title == "Movement from the left to the right of the frame"
