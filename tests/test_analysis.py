"""Prompts, describe/judge batching, smoothing, merging, summary and the engine, through the fake backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from veille.analysis.describe import describe_chunks
from veille.analysis.engine import AnalysisOptions, run_models
from veille.analysis.events import ChunkResult, build_events, smooth_levels
from veille.analysis.ground import ground_chunks
from veille.analysis.prompts import DEFAULT_RUBRIC, JudgeItem, describe_prompt, judge_prompt
from veille.analysis.reason import judge, summarise
from veille.backends.base import ScoringTextModel
from veille.backends.fake import FakeBackend, ScoringFakeBackend
from veille.errors import BackendError
from veille.models.session import ModelSession
from veille.progress import NullProgress
from veille.settings import Settings
from veille.types import Box, Chunk, Judgement, Keyframe, VideoInfo

IMG = np.zeros((24, 32, 3), dtype=np.uint8)
INFO = VideoInfo(path=None, duration_s=120, fps=10, width=32, height=24, frame_count=1200, codec="h264")  # type: ignore[arg-type]


def chunk(cid: int, segment: int = 0, start: float | None = None, frames: int = 2) -> Chunk:
    start = cid * 10.0 if start is None else start
    keys = tuple(Keyframe(start + i, IMG, score=0.1 * (i + 1)) for i in range(frames))
    box = (Box("motion", (2, 2, 10, 10)),)
    return Chunk(cid, segment, start, start + 10, keys, motion_boxes=box, max_regions=1, peak_score=0.05)


def fake_session(tmp_path: Path, **roles: FakeBackend) -> ModelSession:
    """A real model session (default lifetime) whose factory hands out the given fake backends."""
    flags = {}
    for role, flag in (("describer", "vlm"), ("reasoner", "llm"), ("grounder", "grounder")):
        flags[flag] = str(tmp_path) if role in roles else "none"
    return ModelSession(Settings(profile="full", device="cpu", **flags), factory=lambda role, *a, **k: roles[role])


def test_describe_prompt_has_times_questions_and_context() -> None:
    prompt = describe_prompt([5.0, 65.0], "loading dock, closed at night")
    assert "00:05, 01:05" in prompt and "carrying" in prompt and "loading dock" in prompt


def test_judge_prompt_lists_every_chunk_rubric_and_neighbours() -> None:
    items = [JudgeItem(3, 0, 10, "A man walks."), JudgeItem(4, 10, 20, "He opens a door.")]
    prompt = judge_prompt(items, context="office", before="Empty street.", after="He leaves.")
    assert "[3] 00:00-00:10: A man walks." in prompt and "[4]" in prompt
    assert DEFAULT_RUBRIC in prompt and "Just before: Empty street." in prompt and "Just after: He leaves." in prompt
    assert "custom rubric" in judge_prompt(items, rubric="custom rubric")


def test_describe_batches_chunks_and_counts_frames() -> None:
    vlm = FakeBackend(default="A person walks past the gate.")
    chunks = [chunk(i, frames=3) for i in range(5)] + [Chunk(9, 0, 90, 100)]  # the last has no keyframes
    texts, calls, frames, warnings = describe_chunks(chunks, vlm, batch_size=2, max_new_tokens=20)
    assert calls == 3 == len(vlm.history) and frames == 15
    assert sorted(texts) == [0, 1, 2, 3, 4] and not warnings


def test_describe_junk_and_failure_become_warnings() -> None:
    vlm = FakeBackend().enqueue("\ufffd\ufffd", BackendError("server down"))
    texts, calls, _, warnings = describe_chunks([chunk(0), chunk(1)], vlm, batch_size=1)
    assert texts == {} and calls == 2
    assert any("chunk 0" in w for w in warnings) and any("server down" in w for w in warnings)


def test_judge_groups_chunks_and_bounds_output() -> None:
    llm = FakeBackend().enqueue(
        "[0] | 0 | 0.9 | Walks\n[1] | 1 | 0.6 | Tries door\n[2] | 0 | 0.8 | Leaves", "[3] | 2 | 1"
    )
    items = [JudgeItem(i, i * 10, i * 10 + 10, f"scene {i}") for i in range(4)]
    verdicts, calls, warnings = judge(items, llm, group_size=3)
    assert calls == 2 and verdicts[1].threat_level == 1 and verdicts[3].threat_level == 2
    assert llm.history[0].max_new_tokens < 64 and "Just after: scene 3" in llm.history[0].prompt
    assert "Just before: scene 2" in llm.history[1].prompt and not warnings


def test_scoring_reasoner_weighs_levels_and_writes_only_titles() -> None:
    weights = {" [4] level:": (0.7, 0.2, 0.1), " [5] level:": (0.1, 0.3, 0.6)}
    llm = ScoringFakeBackend(weights=weights.get).enqueue("Person walks past", "")
    assert isinstance(llm, ScoringTextModel) and not isinstance(FakeBackend(), ScoringTextModel)
    items = [JudgeItem(4, 0, 10, "A man walks by. He leaves."), JudgeItem(5, 10, 20, "Smoke rises. Fire.")]
    verdicts, calls, warnings = judge(items, llm, group_size=7)
    assert calls == 2 and not warnings  # one batched call for the levels, one for the titles
    assert (verdicts[4].threat_level, verdicts[4].confidence, verdicts[4].title) == (0, 0.7, "Person walks past")
    assert (verdicts[5].threat_level, verdicts[5].confidence, verdicts[5].title) == (2, 0.6, "Smoke rises")
    # each chunk's line is answered side by side: the head, then the title after the weighed level
    assert [(c.method, c.starts) for c in llm.history] == [
        ("choose_each", (" [4] level:", " [5] level:")),
        ("continue_each", (" [4] level: 0 title:", " [5] level: 2 title:")),
    ]
    assert llm.history[1].max_new_tokens <= 12 and "\n" in llm.history[1].stop


def test_scoring_reasoner_failure_is_a_warning() -> None:
    llm = ScoringFakeBackend(weights=(0.7, 0.2, 0.1)).enqueue(BackendError("out of memory"))
    verdicts, calls, warnings = judge([JudgeItem(0, 0, 10, "x")], llm)
    assert verdicts == {} and calls == 2 and any("out of memory" in w for w in warnings)


def test_scoring_reasoner_that_cannot_weigh_falls_back_to_written_lines() -> None:
    llm = ScoringFakeBackend(weights=None).enqueue("[0] | 1 | 0.8 | Tries door")
    verdicts, calls, _ = judge([JudgeItem(0, 0, 10, "x")], llm)
    assert verdicts[0].threat_level == 1 and calls == 2
    assert [c.method for c in llm.history] == ["choose_each", "generate"]


def test_judge_with_the_tiny_phi_checkpoint(tiny_models: dict[str, Any]) -> None:
    from veille.backends.factory import create_backend
    from veille.backends.runtime import RuntimeOptions

    phi = create_backend("reasoner", tiny_models["phi"], RuntimeOptions(device="cpu", dtype="fp32"), model_id="t")
    items = [JudgeItem(i, i * 20, i * 20 + 20, f"A person walks past the door, scene {i}.") for i in range(3)]
    verdicts, calls, _ = judge(items, phi, group_size=3)
    assert sorted(verdicts) == [0, 1, 2] and calls == 2
    assert all(
        v.threat_level in (0, 1, 2) and 0 <= v.confidence <= 1 and 0 < len(v.title) <= 60 for v in verdicts.values()
    )
    assert phi.reused_tokens > phi.computed_tokens  # the titles went on in the caches of the levels
    phi.close()


def test_judge_survives_a_failing_reasoner() -> None:
    verdicts, calls, warnings = judge([JudgeItem(0, 0, 10, "x")], FakeBackend().enqueue(BackendError("boom")))
    assert verdicts == {} and calls == 1 and any("boom" in w for w in warnings)


@pytest.mark.parametrize(
    ("levels", "confidences", "groups", "expected"),
    [
        ([0, 1, 0], [0.9, 0.5, 0.9], [0, 0, 0], [0, 0, 0]),  # unsure isolated alarm dropped
        ([0, 1, 0], [0.9, 0.9, 0.9], [0, 0, 0], [0, 1, 0]),  # a sure one stays
        ([1, 0, 1], [0.6, 0.5, 0.6], [0, 0, 0], [1, 1, 1]),  # an unsure gap in a suspicious run is lifted
        ([0, 2, 0], [0.5, 0.95, 0.5], [0, 0, 0], [1, 2, 1]),
        ([0, 1], [0.9, 0.5], [0, 1], [0, 1]),  # different segments do not smooth each other
    ],
)
def test_smooth_levels(levels: list[int], confidences: list[float], groups: list[int], expected: list[int]) -> None:
    assert smooth_levels(levels, confidences, groups) == expected


def test_adjacent_chunks_of_one_story_merge_into_one_event() -> None:
    results = [
        ChunkResult(chunk(0), "A man walks.", Judgement(0, 0, 0.9, "Man walks")),
        ChunkResult(chunk(1), "A man walks.", Judgement(1, 0, 0.7, "Man walks on")),
        ChunkResult(chunk(2), "He tries a window.", Judgement(2, 1, 0.95, "Window tried")),
        ChunkResult(chunk(3, segment=1), "A cat.", None),
    ]
    events = build_events(results, 32, 24)
    assert [(e.start_s, e.end_s, e.threat_level, e.source) for e in events] == [
        (0, 20, 0, "vlm"),
        (20, 30, 1, "vlm"),
        (30, 40, 0, "vlm"),
    ]
    assert events[0].title == "Man walks" and events[0].description == "A man walks."
    assert events[0].chunk_ids == (0, 1) and events[1].title == "Window tried"
    assert events[2].description == "A cat." and events[2].title.startswith("Movement")  # motion-based verdict
    assert build_events([ChunkResult(chunk(0), None, None)], 32, 24)[0].source == "motion"


def test_summary_batches_then_aggregates() -> None:
    llm = FakeBackend(default="Two people walked past; nothing unusual happened.")
    summary, calls = summarise([f"event {i} " + "x" * 80 for i in range(10)], llm, max_chars=300)
    assert calls == 5 and summary.startswith("Two people")  # 4 batches of 3, 3, 3, 1 lines → then one aggregate
    assert "partial summaries" in llm.history[-1].prompt


def test_ground_puts_boxes_on_the_best_keyframe() -> None:
    grounder = FakeBackend().enqueue([Box("a person", (1, 2, 20, 22))])
    grounded, warnings = ground_chunks([chunk(0, frames=3)], grounder)
    frames = grounded[0]
    assert frames[2].boxes[0].label == "a person" and not frames[0].boxes and not warnings


def test_run_models_end_to_end_with_fakes_and_memo(tmp_path: Path) -> None:
    vlm = FakeBackend("vlm", default="A man in a hoodie tries the door handle.")
    llm = ScoringFakeBackend(
        "llm",
        weights=(0.05, 0.9, 0.05),
        default=lambda p: "Man tries door" if p.endswith("title:") else "A man tried the door several times.",
    )
    grounder = FakeBackend("kosmos")
    for _ in range(6):
        grounder.enqueue([Box("a man", (0, 0, 8, 8))])
    session = fake_session(tmp_path, describer=vlm, reasoner=llm, grounder=grounder)
    memo = DictMemo()
    chunks = [chunk(i) for i in range(6)]
    outcome = run_models(
        INFO,
        chunks,
        Settings(),
        session,
        progress=NullProgress(),
        memo=memo,
        options=AnalysisOptions(describe_batch=2, storyboard_batch=2, judge_group=3),
    )
    assert outcome.vlm_calls == 3 <= len(chunks) and outcome.frames_to_vlm == 12
    assert outcome.llm_calls == 2 * 2 + 1  # per group of 3: levels weighed, titles written; then the summary
    assert len(outcome.events) == 1 and outcome.events[0].source == "vlm" and outcome.events[0].threat_level == 1
    assert outcome.events[0].title == "Man tries door" and outcome.events[0].confidence == 0.9
    assert any(k.boxes for k in outcome.events[0].keyframes)
    assert outcome.summary.startswith("A man tried") and outcome.models["describer"].id == "vlm"
    summary_prompt = llm.history[-1].prompt  # written from each event's times, level and title, not its description
    assert "level 1: Man tries door" in summary_prompt and "hoodie" not in summary_prompt
    assert vlm.closed and grounder.closed and not llm.closed  # each stage's model freed when it was done
    assert session.loaded() == ["reasoner"]
    again = run_models(INFO, chunks, Settings(), session, progress=NullProgress(), memo=memo)
    assert again.vlm_calls == 0 and again.events[0].threat_level == 1  # everything reused from the memo


def test_run_models_without_describer_returns_nothing(tmp_path: Path) -> None:
    outcome = run_models(INFO, [chunk(0)], Settings(), fake_session(tmp_path), progress=NullProgress())
    assert outcome.events == [] and outcome.vlm_calls == 0


def test_run_models_without_reasoner_keeps_descriptions(tmp_path: Path) -> None:
    session = fake_session(tmp_path, describer=FakeBackend(default="A van parks. A man unloads boxes."))
    outcome = run_models(INFO, [chunk(0)], Settings(), session, progress=NullProgress())
    event = outcome.events[0]
    assert event.source == "vlm" and event.title == "A van parks" and outcome.llm_calls == 0


class DictMemo:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict] = {}

    def get(self, stage: str, key: str) -> dict | None:
        return self.data.get((stage, key))

    def put(self, stage: str, key: str, value: dict) -> None:
        self.data[(stage, key)] = value


@pytest.mark.parametrize(("layout", "sizes"), [("storyboard", [4, 2]), ("frames", [2, 2, 2])])
def test_the_cpu_describes_four_storyboards_or_two_chunks_of_frames_per_call(
    tmp_path: Path, layout: str, sizes: list[int]
) -> None:
    vlm = FakeBackend("vlm", default="A man walks past.")
    session = fake_session(tmp_path, describer=vlm)
    settings = Settings(device="cpu", describe=Settings().describe.model_copy(update={"layout": layout}))
    outcome = run_models(INFO, [chunk(i) for i in range(6)], settings, session, progress=NullProgress())
    calls = [c for c in vlm.history if c.method == "generate_batch"]
    per_chunk = 1 if layout == "storyboard" else len(chunk(0).keyframes)
    assert [c.images // per_chunk for c in calls] == sizes and outcome.describe_layout == layout
