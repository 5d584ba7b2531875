"""``veille ask``: the reasoner answers a question from the events a search found, citing them.

Citations are ``[video @ mm:ss]`` (``h:mm:ss`` past an hour). Every one the model writes is checked
against the index: it must name an indexed report folder and a time within one of its events;
the others are removed from the answer and listed as dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from veille.archive.search import Hit, hit_of
from veille.archive.store import Store
from veille.backends.base import TextModel
from veille.errors import BackendError
from veille.i18n import clock

CITATION = re.compile(r"\[\s*([^\[\]@\n]+?)\s*@\s*((?:\d+:)?\d{1,4}:\d{2})\s*\]")
#: Slack (seconds) around an event when checking a citation: ``mm:ss`` is rounded.
SLACK_S = 1.0
DESCRIPTION_CHARS = 300
ANSWER_TOKENS = 160
THREATS = {0: "normal", 1: "suspicious", 2: "critical"}


@dataclass(slots=True)
class Answer:
    """The reasoner's answer with only checked citations, the events it cites, and what was dropped."""

    text: str
    cited: list[Hit] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def citation(hit: Hit) -> str:
    """How an event is cited: ``[video @ mm:ss]`` at its start."""
    return f"[{hit.video} @ {clock(hit.start_s)}]"


def ask_prompt(question: str, hits: Sequence[Hit]) -> str:
    """The reasoner's prompt: the events (each with its citation), the question, how to answer."""
    lines = []
    for hit in hits:
        facts = [f for f in (hit.when and hit.when.replace("T", " "), hit.camera and f"camera {hit.camera}") if f]
        facts.append(THREATS.get(hit.threat, ""))
        description = hit.description.strip()[:DESCRIPTION_CHARS]
        lines.append(f"{citation(hit)} ({', '.join(facts)}) {hit.title.strip()}. {description}")
    example = citation(hits[0]) if hits else "[video @ 00:00]"
    return (
        "Events recorded by security cameras, each after its reference:\n"
        + "\n".join(lines)
        + f"\n\nQuestion: {question.strip()}\n"
        "Answer in two or three sentences using only these events. After each fact, write the reference of its"
        f" event, like {example}. If no event answers the question, say so.\nAnswer:"
    )


def seconds(text: str) -> float:
    """Seconds of ``mm:ss`` or ``h:mm:ss``."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


def find_cited(store: Store, video: str, at_s: float) -> Hit | None:
    """The indexed event of report folder ``video`` that holds time ``at_s`` (nearest start first)."""
    row = store.conn.execute(
        "SELECT e.id FROM events e JOIN videos v ON v.id = e.video_id WHERE v.folder = ?"
        " AND e.start_s - ? <= ? AND e.end_s + ? >= ? ORDER BY abs(e.start_s - ?) LIMIT 1",
        (video, SLACK_S, at_s, SLACK_S, at_s, at_s),
    ).fetchone()
    if row is None:
        return None
    found = store.event_rows([row[0]]).get(row[0])
    return None if found is None else hit_of(found, 0.0)


def check_citations(text: str, store: Store) -> Answer:
    """``text`` without the citations that match no indexed event; the events cited, and those dropped."""
    cited: dict[tuple[str, float], Hit] = {}
    dropped: list[str] = []

    def keep_or_drop(match: re.Match[str]) -> str:
        hit = find_cited(store, match.group(1).strip(), seconds(match.group(2)))
        if hit is None:
            dropped.append(match.group(0))
            return ""
        cited.setdefault((hit.video, hit.start_s), hit)
        return f"[{hit.video} @ {match.group(2)}]"

    kept = CITATION.sub(keep_or_drop, text)
    kept = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", kept)).strip()
    return Answer(kept, list(cited.values()), dropped)


def answer(question: str, hits: Sequence[Hit], llm: TextModel, store: Store) -> Answer:
    """The reasoner's checked answer to ``question`` from ``hits``.

    Raises:
        BackendError: the reasoner failed.
    """
    text = llm.generate(ask_prompt(question, hits), max_new_tokens=ANSWER_TOKENS, stop=("\nQuestion:", "\n\n\n"))
    if not isinstance(text, str):
        raise BackendError("the reasoner gave no text")
    return check_citations(text, store)
