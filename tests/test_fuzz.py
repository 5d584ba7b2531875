"""Property-based tests: model-output parsers and the packet scanner never crash on junk and keep their contracts."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veille.analysis import parsing
from veille.video import bitstream, packets

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDS = st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
)
WORDS = st.sampled_from(["critical", "two", "level 1", "80%", "high", "0.7", "-3", "1e9", "NaN", "", "|", "```"])


@pytest.mark.parametrize(
    "text",
    [
        '[{"id": 1, "threat_level": Infinity, "confidence": 0.5, "title": "x"}]',
        '[{"id": 1, "threat_level": NaN, "confidence": 0.5, "title": "x"}]',
        "1 | " + "9" * 400 + " | 0.5 | a title",
    ],
)
def test_non_finite_levels_do_not_crash(text: str) -> None:
    verdicts, _warnings = parsing.parse_judgements(text, [1])
    assert 1 not in verdicts or verdicts[1].threat_level in (0, 1, 2)


def test_zero_byte_keyframe_packet_does_not_crash() -> None:
    window = packets.PacketWindow(0.0, 1.1, np.array([0.5, 1.0]), np.array([0, 300]), np.array([0, 1], dtype=np.int8))
    baseline = packets.PacketBaseline()
    baseline.informative(window)
    assert baseline.hot(window).shape == (2,)


def _check_judgements(verdicts: dict, warnings: list[str], ids: list[int]) -> None:
    assert set(verdicts) <= set(ids)
    for chunk_id, judgement in verdicts.items():
        assert judgement.chunk_id == chunk_id
        assert judgement.threat_level in (0, 1, 2)
        assert 0.0 <= judgement.confidence <= 1.0
        assert len(judgement.title) <= parsing.TITLE_MAX and "\n" not in judgement.title
    for chunk_id in set(ids) - set(verdicts):
        assert any(f"chunk {chunk_id}" in w for w in warnings), (chunk_id, warnings)
    assert all(isinstance(w, str) for w in warnings)


@FUZZ
@given(st.text(max_size=400), IDS)
def test_parse_judgements_never_crashes_on_any_text(text: str, ids: list[int]) -> None:
    verdicts, warnings = parsing.parse_judgements(text, ids)
    _check_judgements(verdicts, warnings, ids)


@st.composite
def model_like_answers(draw) -> tuple[str, list[int]]:
    """Answers shaped like a small LLM's: table lines or JSON, with junk values, fences and truncation."""
    ids = draw(IDS)
    if draw(st.booleans()):
        rows = [
            {
                draw(st.sampled_from(["id", "chunk", "scene", "x"])): draw(
                    st.one_of(st.sampled_from(ids), JSON_SCALARS)
                ),
                draw(st.sampled_from(["threat_level", "level", "threat"])): draw(st.one_of(JSON_SCALARS, WORDS)),
                "confidence": draw(st.one_of(JSON_SCALARS, WORDS)),
                "title": draw(st.one_of(st.text(max_size=90), JSON_SCALARS)),
            }
            for _ in range(draw(st.integers(0, 4)))
        ]
        body = json.dumps(draw(st.sampled_from([rows, {"scenes": rows}, {"events": rows}, rows[:1]])))
    else:
        lines = [
            f"{draw(st.sampled_from(ids))} | {draw(WORDS)} | {draw(WORDS)} | {draw(st.text(max_size=80))}"
            for _ in range(draw(st.integers(0, 4)))
        ]
        body = "\n".join(lines)
    if draw(st.booleans()):
        body = f"Here you go:\n```json\n{body}\n```"
    cut = draw(st.integers(0, len(body)))
    return (body[:cut] if draw(st.booleans()) else body), ids


@FUZZ
@given(model_like_answers())
def test_parse_judgements_on_model_like_junk(answer: tuple[str, list[int]]) -> None:
    text, ids = answer
    verdicts, warnings = parsing.parse_judgements(text, ids)
    _check_judgements(verdicts, warnings, ids)


@FUZZ
@given(
    IDS,
    st.lists(st.integers(0, 2), min_size=6, max_size=6),
    st.lists(st.floats(0, 1), min_size=6, max_size=6),
    st.text(alphabet="abcdefgh ", min_size=1, max_size=50),
)
def test_well_formed_lines_parse_exactly(ids: list[int], levels: list[int], confs: list[float], title: str) -> None:
    text = "\n".join(f"{i} | {levels[n]} | {confs[n]:.2f} | {title}" for n, i in enumerate(ids))
    verdicts, _ = parsing.parse_judgements(text, ids)
    assert set(verdicts) == set(ids)
    for n, i in enumerate(ids):
        assert verdicts[i].threat_level == levels[n]
        assert verdicts[i].confidence == pytest.approx(round(confs[n], 2), abs=1e-3)


@FUZZ
@given(
    st.one_of(JSON_SCALARS, WORDS, st.lists(st.integers(), max_size=3), st.text(alphabet="0123456789.-e", max_size=300))
)
def test_level_and_confidence_parsers_never_crash(value: object) -> None:
    level, problem = parsing.parse_level(value)
    assert level is None or level in (0, 1, 2)
    assert problem is None or isinstance(problem, str)
    confidence, problem = parsing.parse_confidence(value)
    assert confidence is None or 0.0 <= confidence <= 1.0
    assert problem is None or isinstance(problem, str)


@FUZZ
@given(st.one_of(st.text(max_size=300), JSON_SCALARS))
def test_text_cleaners_never_crash(value: object) -> None:
    title = parsing.clean_title(value)
    assert len(title) <= parsing.TITLE_MAX and "\n" not in title
    description = parsing.clean_description(str(value), max_chars=200)
    assert description is None or (0 < len(description) <= 200)


# --- the packet scanner -------------------------------------------------------------------------

CLASSES = st.integers(0, bitstream.N_CLASSES - 1)


@st.composite
def windows(draw, start: float = 0.0):
    n = draw(st.integers(0, 60))
    gaps = draw(st.lists(st.floats(0.001, 2.0), min_size=n, max_size=n))
    times = start + np.cumsum(np.array(gaps, dtype=np.float64)) if n else np.zeros(0)
    sizes = np.array(draw(st.lists(st.integers(0, 5_000_000), min_size=n, max_size=n)), dtype=np.int64)
    classes = np.array(draw(st.lists(CLASSES, min_size=n, max_size=n)), dtype=np.int8)
    end = float(times[-1]) + 0.1 if n else start + 1.0
    return packets.PacketWindow(start, end, times, sizes, classes)


@FUZZ
@given(st.lists(windows(), min_size=1, max_size=4), st.floats(1.05, 4.0), st.floats(0.01, 0.9))
def test_packet_baseline_on_any_windows(wins, hot_ratio: float, informative: float) -> None:
    baseline = packets.PacketBaseline(hot_ratio=hot_ratio, informative_ratio=informative)
    for window in wins:
        useful, reason = baseline.informative(window)
        assert isinstance(useful, bool) and reason
        hot = baseline.hot(window)
        assert hot.dtype == bool and hot.shape == window.sizes.shape
        assert not hot[window.classes == bitstream.CLASS_I].any(), "a keyframe was called hot"


@FUZZ
@given(
    st.lists(st.floats(0, 10_000), max_size=80),
    st.integers(1, 5),
    st.floats(0.1, 10),
    st.floats(0, 3),
    st.integers(1, 5),
)
def test_hot_grouper_spans_are_ordered_and_cover_groups(times, min_hot: int, gap: float, margin: float, parts: int):
    ordered = np.array(sorted(times))
    grouper = packets.HotGrouper(gap_s=gap, min_hot=min_hot, margin_s=margin)
    spans = [s for piece in np.array_split(ordered, parts) for s in grouper.feed(piece)] + list(grouper.flush())
    for a, b in itertools.pairwise(spans):
        assert a.start_s <= b.start_s
    for span in spans:
        assert 0 <= span.start_s <= span.end_s and span.reason == "candidate"
    if min_hot == 1:  # every hot time is inside a candidate
        for t in ordered:
            assert any(s.start_s <= t <= s.end_s for s in spans), t


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 50), st.booleans()), max_size=40), st.floats(0, 20))
def test_merge_spans_keeps_coverage_and_order(raw, slack: float) -> None:
    spans = sorted(
        (packets.Span(s, s + d, "candidate" if c else "fallback") for s, d, c in raw), key=lambda s: s.start_s
    )
    merged = list(packets.merge_spans(iter(spans), slack))
    for a, b in itertools.pairwise(merged):
        assert b.start_s - a.end_s > slack
    for span in spans:
        assert any(m.start_s <= span.start_s and span.end_s <= m.end_s for m in merged), span


@FUZZ
@given(st.sampled_from(["h264", "hevc", "mpeg4", "mjpeg"]), st.binary(max_size=300), st.integers(0, 4), st.booleans())
def test_frame_class_never_crashes_on_random_packets(codec: str, data: bytes, nal_length: int, key: bool) -> None:
    cls = bitstream.frame_class(codec, data, nal_length, key)
    assert 0 <= cls < bitstream.N_CLASSES
    assert key is False or cls == bitstream.CLASS_I
    assert 0 <= bitstream.length_size(codec, data) <= 4
