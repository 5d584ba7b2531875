"""Every prompt veille sends to a model. Kept short: each prompt token costs time on a CPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veille.i18n import clock, count

DEFAULT_RUBRIC = (
    "0 normal: people or vehicles passing, deliveries, staff routines, animals, weather.\n"
    "1 suspicious: loitering, trying doors, face covered, climbing, taking items, "
    "presence at an unusual hour for the site.\n"
    "2 critical: forced entry, weapons, violence, fire."
)

DESCRIBE_QUESTIONS = (
    "Who and what is present, and how many?",
    "What are they doing?",
    "Is anyone entering or leaving?",
    "Is anyone carrying an object?",
    "Are there vehicles?",
    "Is anything at odds with the site?",
)


@dataclass(frozen=True, slots=True)
class JudgeItem:
    """One chunk shown to the reasoner."""

    chunk_id: int
    start_s: float
    end_s: float
    description: str
    camera: str = ""  # how usual the movement is for this camera (``analyze --camera``), or nothing


def describe_prompt(times_s: Sequence[float], context: str = "") -> str:
    """The describer's prompt for one chunk whose keyframes were taken at ``times_s``."""
    stamps = ", ".join(clock(t) for t in times_s)
    site = f" Site: {context.strip()}." if context.strip() else ""
    questions = " ".join(DESCRIBE_QUESTIONS)
    return (
        f"These {len(times_s)} frames come from one security camera, at {stamps}.{site} "
        f"Answer in two or three plain sentences: {questions} Describe only what is visible."
    )


def storyboard_prompt(times_s: Sequence[float], context: str = "", *, zoomed: bool = False) -> str:
    """The describer's prompt for one chunk shown as a storyboard of keyframes taken at ``times_s``."""
    stamps = ", ".join(clock(t) for t in times_s)
    site = f" Site: {context.strip()}." if context.strip() else ""
    zoom = " Each tile shows the part of the view where movement was seen." if zoomed else ""
    questions = " ".join(DESCRIBE_QUESTIONS)
    return (
        f"This image is a storyboard of {count(len(times_s), 'moment')} from one security camera, at {stamps}: "
        f"read its tiles left to right, top to bottom; each tile's time is written in its corner.{zoom}{site} "
        f"Answer in two or three plain sentences: {questions} Describe only what is visible."
    )


def judge_prompt(
    items: Sequence[JudgeItem],
    *,
    context: str = "",
    rubric: str | None = None,
    before: str = "",
    after: str = "",
    scored: bool = False,
) -> str:
    """The reasoner's prompt for several chunks at once; one short line per chunk comes back.

    ``before`` and ``after`` are the neighbouring descriptions outside this batch (temporal context).
    ``scored``: the answer lines are ``[id] level: N title: …`` (the level is weighed, not written).
    """
    site = context.strip() or "unknown site"
    lines = [
        "You review security camera footage. Threat levels:",
        (rubric or DEFAULT_RUBRIC).strip(),
        "Use 0 unless the description clearly shows more.",
        f"Site context: {site}",
    ]
    if any(i.camera for i in items):
        lines.append(
            "Camera facts compare each scene's movement with ordinary footage of this camera. Usual movement "
            "is normal unless the description shows more; unusual movement (too fast, too big, where nothing "
            "usually moves) deserves a closer look, but the description decides the level."
        )
    if before:
        lines.append(f"Just before: {before}")
    lines.append("Scenes:")
    lines += [f"[{i.chunk_id}] {clock(i.start_s)}-{clock(i.end_s)}: {i.description}{_fact(i)}" for i in items]
    if after:
        lines.append(f"Just after: {after}")
    if scored:
        lines.append(
            "For each scene write one line: [id] level: 0-2 title: at most 8 words. "
            f"Example: [{items[0].chunk_id}] level: 0 title: Person walks past"
        )
        return "\n".join(lines)
    lines.append(
        "For each scene write one line: id | level 0-2 | confidence 0-1 | title of at most 8 words. "
        f"Example: [{items[0].chunk_id}] | 0 | 0.9 | Person walks past"
    )
    return "\n".join(lines)


def _fact(item: JudgeItem) -> str:
    return f" Camera facts: {item.camera}." if item.camera else ""


def summary_prompt(lines: Sequence[str], *, context: str = "", partial: bool = False) -> str:
    """Ask for a short summary of event lines (or of partial summaries when ``partial``)."""
    what = "partial summaries of one video" if partial else "events seen by one security camera"
    site = f" Site: {context.strip()}." if context.strip() else ""
    body = "\n".join(f"- {line}" for line in lines)
    return f"Summarise these {what} in two sentences, most serious first.{site}\n{body}"
