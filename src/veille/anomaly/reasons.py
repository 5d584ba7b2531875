"""Why a stretch of video is unusual for its camera, in a few words.

For an event (a time span), the most unusual analysed frame inside it is looked at: in its most
unusual window, how much faster its movement is than the usual speed there, how much larger its
largest moving blob is than the usual size there, how rarely that window moves at all, how much
longer than usual its movement has lasted, and whether it usually is quiet at this hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from veille.anomaly.score import AnomalyCurve

RARE_WHERE = 0.5  # rarity (log10 beyond 1 %) from which "where nothing usually moves" is said
EXTRA = 0.5  # what lasting long or a quiet hour must add for "longer" or "at an hour ..." to be said
RATIO = 1.5  # faster / larger from this ratio on

_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "usual": "usual movement for this camera",
        "where": "movement where nothing usually moves",
        "faster": "moving about {r}× faster than usual here",
        "larger": "a moving object about {r}× larger than usual here",
        "more": "more movement than usual here",
        "longer": "movement lasting about {r}× longer than usual here",
        "when": "movement at an hour when this place is usually quiet",
        "at": "{what} ({where} of the picture)",
        "rows": ("top", "middle", "bottom"),
        "cols": ("left", "", "right"),
        "centre": "centre",
    },
    "fr": {
        "usual": "mouvement habituel pour cette caméra",
        "where": "mouvement là où rien ne bouge d'habitude",
        "faster": "déplacement environ {r}× plus rapide que d'habitude ici",
        "larger": "objet en mouvement environ {r}× plus grand que d'habitude ici",
        "more": "plus de mouvement que d'habitude ici",
        "longer": "mouvement qui dure environ {r}× plus longtemps que d'habitude ici",
        "when": "mouvement à une heure où cet endroit est d'habitude calme",
        "at": "{what} ({where} de l'image)",
        "rows": ("en haut", "au milieu", "en bas"),
        "cols": ("à gauche", "", "à droite"),
        "centre": "au centre",
    },
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """An event's anomaly: its score (the curve's highest point in it) and the reason in words."""

    score: float
    reason: str
    unusual: bool


def _times(curve: AnomalyCurve) -> np.ndarray:
    return np.asarray(curve.times, np.float64)


def _span(curve: AnomalyCurve, start_s: float, end_s: float) -> np.ndarray:
    """Indices of the curve's points in [start_s, end_s], or the last one before when none is."""
    times = _times(curve)
    inside = np.flatnonzero((times >= start_s - 1e-6) & (times <= end_s + 1e-6))
    if inside.size:
        return inside
    before = int(np.searchsorted(times, start_s + 1e-6)) - 1
    return np.array([before]) if before >= 0 else np.array([], dtype=np.int64)


def _place(index: int, grid: tuple[int, int], lang: str) -> str:
    text = _TEXT[lang]
    rows, cols = grid
    r, c = divmod(index, cols)
    row, col = min(2, r * 3 // max(rows, 1)), min(2, c * 3 // max(cols, 1))
    if (row, col) == (1, 1):
        return text["centre"]
    return " ".join(part for part in (text["rows"][row], text["cols"][col]) if part)


def _about(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 2.5 else f"{ratio:.1f}".rstrip("0").rstrip(".")


def explain(curve: AnomalyCurve, start_s: float, end_s: float, lang: str = "en") -> Verdict:
    """The anomaly score and reason of the span ``[start_s, end_s]``.

    The reason is the kind of unusualness (where / faster / larger / more) that weighs most over
    the span's unusual frames (their raw scores summed), told from its strongest frame: a single
    odd frame does not outvote a sustained one.
    """
    lang = lang if lang in _TEXT else "en"
    text = _TEXT[lang]
    idx = _span(curve, start_s, end_s)
    if not idx.size:
        return Verdict(0.0, text["usual"], False)
    score = round(float(max(curve.scores[i] for i in idx)), 3)
    moving = [i for i in idx if curve.window[i] >= 0]
    if score <= curve.threshold or not moving:
        return Verdict(score, text["usual"], False)
    odd = [i for i in moving if curve.raw[i] > curve.threshold] or moving
    weight: dict[str, float] = {}
    for i in odd:
        weight[_kind(curve, i)] = weight.get(_kind(curve, i), 0.0) + curve.raw[i]
    kind = max(weight, key=weight.__getitem__)
    best = max((i for i in odd if _kind(curve, i) == kind), key=lambda i: curve.raw[i])
    return Verdict(score, reason_for(curve, best, lang), True)


def _kind(curve: AnomalyCurve, i: int) -> str:
    speed, size = curve.speed_ratio[i], curve.size_ratio[i]
    extra = {"where": curve.rarity[i] + EXTRA - RARE_WHERE, "longer": curve.longer[i], "when": curve.quiet_hour[i]}
    kind = max(extra, key=extra.__getitem__)  # the first of equals: "where" before the others
    if extra[kind] >= EXTRA:
        return kind
    if max(speed, size) < RATIO:
        return "more"
    return "faster" if speed >= size else "larger"


def reason_for(curve: AnomalyCurve, i: int, lang: str = "en") -> str:
    """What is unusual at the curve's point ``i`` (a moving window is assumed)."""
    text = _TEXT[lang]
    kind = _kind(curve, i)
    ratio = {"faster": curve.speed_ratio, "longer": curve.lasting_ratio}.get(kind, curve.size_ratio)[i]
    what = text[kind].format(r=_about(ratio))
    return text["at"].format(what=what, where=_place(curve.window[i], curve.grid, lang))
