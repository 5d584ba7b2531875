"""Table-driven tests of the pure parsers of model text."""

from __future__ import annotations

import pytest

from veille.analysis.parsing import (
    Verdict,
    clean_description,
    clean_title,
    parse_confidence,
    parse_judgements,
    parse_level,
)


@pytest.mark.parametrize(
    ("raw", "level", "warns"),
    [
        (0, 0, False),
        ("2", 2, False),
        ("level 1", 1, False),
        ("two", 2, False),
        ("Suspicious", 1, False),
        ("critical!", 2, False),
        (1.6, 2, False),
        ("5", 2, True),
        (-1, 0, True),
        ("banana", None, True),
        ("", None, True),
        (True, None, True),
    ],
)
def test_parse_level(raw: object, level: int | None, warns: bool) -> None:
    value, problem = parse_level(raw)
    assert value == level
    assert (problem is not None) == warns


@pytest.mark.parametrize(
    ("raw", "confidence", "warns"),
    [
        (0.8, 0.8, False),
        ("0.35", 0.35, False),
        ("80%", 0.8, False),
        ("90", 0.9, False),
        ("high", 0.8, False),
        ("very low", 0.1, False),
        ("150", 1.0, True),
        (-0.2, 0.0, True),
        ("unsure", None, True),
    ],
)
def test_parse_confidence(raw: object, confidence: float | None, warns: bool) -> None:
    value, problem = parse_confidence(raw)
    assert value == confidence
    assert (problem is not None) == warns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[3] | 1 | 0.7 | Man tries the door", {3: (1, 0.7, "Man tries the door")}),
        (
            "3 | 0 | 0.9 | Person walks past\n4 | 2 | 0.95 | Fire near the gate",
            {3: (0, 0.9, "Person walks past"), 4: (2, 0.95, "Fire near the gate")},
        ),
        (
            '```json\n[{"id": 3, "threat_level": "one", "confidence": "60%", "title": "Loitering"}]\n```',
            {3: (1, 0.6, "Loitering")},
        ),
        ('{"scenes": [{"chunk": 4, "level": 0, "confidence": 0.5, "title": "Van parks"}]}', {4: (0, 0.5, "Van parks")}),
        ("Scene 3: two | high | **Two people** fight", {3: (2, 0.8, "Two people fight")}),
        ("[3] | 1 | 0.7", {3: (1, 0.7, "")}),  # truncated before the title
        ("[3] | 1", {3: (1, 0.5, "")}),  # truncated before the confidence
        ("[9] | 1 | 0.7 | Not one of ours", {}),
        ("[3] | zzz | 0.7 | Unknown level", {}),
        ("as an AI I cannot judge", {}),
        ("", {}),
        ("\ufffd\ufffd<patch>", {}),
    ],
)
def test_parse_judgements_table(text: str, expected: dict[int, tuple[int, float, str]]) -> None:
    verdicts, warnings = parse_judgements(text, [3, 4])
    assert {k: (v.threat_level, v.confidence, v.title) for k, v in verdicts.items()} == expected
    missing = {3, 4} - set(expected)
    for chunk_id in missing:
        assert any(f"chunk {chunk_id}" in w for w in warnings)


def test_out_of_range_values_are_clamped_with_a_warning() -> None:
    verdicts, warnings = parse_judgements("[3] | 7 | 250 | Odd", [3])
    assert (verdicts[3].threat_level, verdicts[3].confidence) == (2, 1.0)
    assert any("out of range" in w for w in warnings)


def test_single_chunk_answer_without_id() -> None:
    verdicts, _ = parse_judgements("1 | 0.6 | Someone at the door", [5])
    assert verdicts[5].threat_level == 1 and verdicts[5].title == "Someone at the door"


def test_duplicate_ids_keep_the_first() -> None:
    verdicts, _ = parse_judgements("[3] | 0 | 0.9 | First\n[3] | 2 | 0.9 | Second", [3])
    assert verdicts[3].title == "First"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A man walks.  A man walks. He leaves.", "A man walks. He leaves."),
        ("  two people\n\nnear a car ", "two people near a car"),
        ("", None),
        ("\ufffd\ufffd 12 34 ##", None),
        ("ok", None),
        ("A man\x18 walks\x1a by.", "A man walks by."),
    ],
)
def test_clean_description(text: str, expected: str | None) -> None:
    assert clean_description(text) == expected


def test_clean_title_is_bounded_and_cut_at_a_word() -> None:
    long = "A person in a dark hoodie walks slowly along the fence and then tries the side door handle"
    title = clean_title(long)
    assert len(title) <= 60 and long.startswith(title) and not title.endswith(" ")
    assert clean_title('"**Van** parks."') == "Van parks"
    unbroken = "x" * 59 + " " + "y" * 20  # 61 characters without a space after the first 60
    assert clean_title("z" * 61 + " tail") == "z" * 60
    assert clean_title(unbroken) == "x" * 59


def test_verdict_schema_documents_the_contract() -> None:
    schema = Verdict.model_json_schema()["properties"]
    assert schema["threat_level"]["maximum"] == 2 and schema["confidence"]["maximum"] == 1
    assert schema["title"]["maxLength"] == 60
