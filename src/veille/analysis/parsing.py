"""Model text → typed values. Pure functions: junk gives warnings and ``None``, never an exception."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from veille.types import Judgement

TITLE_MAX = 60
WORD_NUMBERS = {"zero": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
LEVEL_WORDS = {"normal": 0, "low": 0, "benign": 0, "suspicious": 1, "medium": 1, "critical": 2, "high": 2, "severe": 2}
CONFIDENCE_WORDS = {"very high": 0.9, "high": 0.8, "medium": 0.6, "moderate": 0.6, "low": 0.3, "very low": 0.1}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|$)", re.S | re.I)
_LINE = re.compile(r"^\W*(?:scene|chunk|id)?\s*\[?\s*(\d+)\s*\]?\s*[|:.)\-]\s*(.+)$", re.I)


class Verdict(BaseModel):
    """The reasoner's contract for one chunk (its JSON schema documents the fields)."""

    threat_level: int = Field(ge=0, le=2, description="0 normal, 1 suspicious, 2 critical")
    confidence: float = Field(ge=0, le=1)
    title: str = Field(max_length=TITLE_MAX)


def parse_level(value: Any) -> tuple[int | None, str | None]:
    """A threat level 0–2 from ``2``, ``"2"``, ``"two"``, ``"critical"``, ``"level 1"``; out of range is clamped."""
    if isinstance(value, bool):
        return None, f"threat level {value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"threat level {value!r} is not a finite number"
    if isinstance(value, int | float):
        number = round(max(-9.0, min(9.0, value)))
    else:
        text = str(value).strip().lower()
        found = re.search(r"-?\d+(?:\.\d+)?", text)
        words = [w for w in re.findall(r"[a-z]+", text) if w in WORD_NUMBERS or w in LEVEL_WORDS]
        if found:
            number = round(max(-9.0, min(9.0, float(found.group()))))
        elif words:
            number = WORD_NUMBERS.get(words[0], LEVEL_WORDS.get(words[0], 0))
        else:
            return None, f"threat level {str(value)[:30]!r} is not a number"
    if 0 <= number <= 2:
        return number, None
    clamped = min(2, max(0, number))
    return clamped, f"threat level {number} is out of range 0-2; used {clamped}"


def parse_confidence(value: Any) -> tuple[float | None, str | None]:
    """A confidence 0–1 from ``0.8``, ``"80%"``, ``"80"``, ``"high"``; out of range is clamped."""
    if isinstance(value, bool):
        return None, f"confidence {value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"confidence {value!r} is not a finite number"
    if isinstance(value, int | float):
        number, percent = float(max(-1e9, min(1e9, value))), False
    else:
        text = str(value).strip().lower()
        found = re.search(r"-?\d+(?:\.\d+)?", text)
        if not found:
            word = next((w for w in sorted(CONFIDENCE_WORDS, key=len, reverse=True) if w in text), None)
            if word is None:
                return None, f"confidence {str(value)[:30]!r} is not a number"
            return CONFIDENCE_WORDS[word], None
        number, percent = float(found.group()), "%" in text
    if percent or 1 < number <= 100:
        number /= 100
    if 0 <= number <= 1:
        return round(number, 3), None
    clamped = min(1.0, max(0.0, number))
    return clamped, f"confidence {number:g} is out of range 0-1; used {clamped:g}"


def clean_title(text: Any) -> str:
    """A one-line title of at most 60 characters, cut at a word boundary, quotes and markup removed."""
    title = " ".join(re.sub(r"[*_`#\"]", "", str(text)).split()).strip(" .:-|")
    if len(title) <= TITLE_MAX:
        return title
    cut = title[: TITLE_MAX + 1].rsplit(" ", 1)[0]  # the whole 61 characters when they hold no space
    return (cut if 20 <= len(cut) <= TITLE_MAX else title[:TITLE_MAX]).rstrip(" ,;:-")


def clean_description(text: str, *, max_chars: int = 600) -> str | None:
    """A VLM answer made fit for the report: whitespace collapsed, repeated sentences and junk dropped.

    Returns ``None`` when nothing usable is left (empty, mostly non-letters, or only the prompt echoed).
    """
    printable = "".join(ch if ch.isprintable() else " " for ch in str(text).replace("\ufffd", " "))
    flat = " ".join(printable.split())
    sentences = re.split(r"(?<=[.!?])\s+", flat)
    kept: list[str] = []
    for sentence in sentences:
        if sentence and sentence.lower() not in (s.lower() for s in kept):
            kept.append(sentence)
    result = " ".join(kept)[:max_chars].strip()
    letters = sum(ch.isalpha() for ch in result)
    if len(result) < 3 or letters < 0.6 * len(result.replace(" ", "")):
        return None
    return result


def _json_candidates(text: str) -> Iterable[Any]:
    blocks = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    for block in blocks:
        for opener, closer in (("[", "]"), ("{", "}")):
            start, end = block.find(opener), block.rfind(closer)
            if start != -1 and end > start:
                try:
                    yield json.loads(block[start : end + 1])
                except json.JSONDecodeError:
                    continue


def _json_rows(text: str) -> list[dict[str, Any]]:
    for data in _json_candidates(text):
        rows = data if isinstance(data, list) else data.get("scenes", data.get("events", [data]))
        rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        if rows:
            return rows
    return []


def _row_from_json(row: dict[str, Any]) -> tuple[Any, list[Any]]:
    ident = next((row[k] for k in ("id", "chunk", "chunk_id", "scene") if k in row), None)
    level = next((row[k] for k in ("threat_level", "level", "potential_threat_level", "threat") if k in row), None)
    return ident, [level, row.get("confidence"), row.get("title", "")]


def _line_rows(text: str) -> list[tuple[Any, list[Any]]]:
    rows = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            fields = [f.strip() for f in re.split(r"\s*\|\s*", match.group(2).strip(" |"))]
            rows.append((match.group(1), fields))
    return rows


def parse_judgements(text: str, chunk_ids: Sequence[int]) -> tuple[dict[int, Judgement], list[str]]:
    """Verdicts for ``chunk_ids`` from the reasoner's answer (``id | level | confidence | title`` lines or JSON).

    Chunks without a usable verdict are missing from the result and named in the warnings.
    """
    rows: list[tuple[Any, list[Any]]] = [_row_from_json(r) for r in _json_rows(text)] or _line_rows(text)
    known = {str(i) for i in chunk_ids}
    if len(chunk_ids) == 1 and not any(str(r[0]).strip() in known for r in rows) and text.strip():
        rows = [(chunk_ids[0], [f.strip() for f in text.strip().splitlines()[0].split("|")])]
    verdicts: dict[int, Judgement] = {}
    warnings: list[str] = []
    for ident, fields in rows:
        chunk_id, problems = _verdict(ident, fields, chunk_ids, verdicts)
        warnings += problems
    for chunk_id in chunk_ids:
        if chunk_id not in verdicts:
            warnings.append(f"chunk {chunk_id}: no usable judgement in the reasoner's answer; motion-based fallback")
    return verdicts, list(dict.fromkeys(warnings))


def _verdict(
    ident: Any, fields: list[Any], chunk_ids: Sequence[int], out: dict[int, Judgement]
) -> tuple[int | None, list[str]]:
    try:
        chunk_id = int(str(ident).strip())
    except ValueError:
        return None, []
    if chunk_id not in chunk_ids or chunk_id in out:
        return None, []
    fields = (
        [*fields, None, None, ""][:3] if len(fields) < 3 else [fields[0], fields[1], " ".join(map(str, fields[2:]))]
    )
    level, level_problem = parse_level(fields[0]) if fields[0] is not None else (None, "no threat level")
    confidence, conf_problem = parse_confidence(fields[1]) if fields[1] is not None else (0.5, None)
    problems = [f"chunk {chunk_id}: {p}" for p in (level_problem, conf_problem) if p]
    if level is None:
        return None, problems
    verdict = Verdict(
        threat_level=level, confidence=confidence if confidence is not None else 0.5, title=clean_title(fields[2] or "")
    )
    out[chunk_id] = Judgement(chunk_id, verdict.threat_level, verdict.confidence, verdict.title)
    return chunk_id, problems
