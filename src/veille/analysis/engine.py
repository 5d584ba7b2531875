"""Run the models over the chunks: describe → ground → reason → events and summary."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from veille.analysis.describe import describe_chunks, resolve_layout
from veille.analysis.events import ChunkResult, build_events
from veille.analysis.ground import ground_chunks
from veille.analysis.outcome import EventsOutcome
from veille.analysis.parsing import clean_title
from veille.analysis.prompts import JudgeItem, clock
from veille.analysis.reason import judge, summarise
from veille.progress import Progress
from veille.types import Chunk, Event, Judgement, Keyframe, VideoInfo

if TYPE_CHECKING:
    from veille.models.session import ModelSession
    from veille.settings import Settings


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """How hard the models work; the defaults are tuned for 2 CPU cores (see benchmarks/analysis.py)."""

    describe_batch: int = 2
    gpu_describe_batch: int = 8
    describe_tokens: int = 48
    judge_group: int = 7
    summary_tokens: int = 64


def memo_key(chunk: Chunk, model_id: str) -> str:
    """The memo key of a chunk's result for one model."""
    return f"{chunk.start_s:.3f}-{chunk.end_s:.3f}:{model_id}"


def run_models(
    info: VideoInfo,
    chunks: list[Chunk],
    settings: Settings,
    models: ModelSession,
    *,
    progress: Progress,
    memo: Any | None = None,
    options: AnalysisOptions | None = None,
    facts: Callable[[float, float], str] | None = None,
) -> EventsOutcome:
    """Describe, ground and judge the chunks with the session's models; events, summary and counts.

    A describer that cannot be had gives motion-only events (the manager warns, or raises when strict).
    The session is told when each stage is done; it decides which models to free then.
    ``facts(start_s, end_s)``, when given, tells the judge how usual a chunk's movement is for the camera.
    """
    options = options or AnalysisOptions()
    work = [c for c in chunks if not c.heartbeat and c.keyframes]
    outcome = EventsOutcome(events=[])
    descriptions = _describe(work, settings, models, progress, memo, options, outcome)
    if descriptions is None:
        return outcome
    described = [c for c in work if c.id in descriptions]
    grounded = _ground(described, models, progress, outcome)
    verdicts = _reason(described, descriptions, settings, models, progress, memo, options, outcome, facts)
    results = [
        ChunkResult(c, descriptions.get(c.id), verdicts.get(c.id), grounded.get(c.id, c.keyframes)) for c in chunks
    ]
    outcome.events = build_events(results, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk)
    outcome.summary = _summary(outcome.events, settings, models, options, outcome, info)
    outcome.models = models.info()
    return outcome


def _stage(progress: Progress, name: str, total: int) -> Any:
    progress.start(name, total, unit="chunks")
    return lambda done: progress.update(name, done)


def _describe(
    work: Sequence[Chunk],
    settings: Settings,
    models: ModelSession,
    progress: Progress,
    memo: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
) -> dict[int, str] | None:
    vlm = models.describer()
    if vlm is None:
        return None
    layout = resolve_layout(settings.describe.layout, str(vlm.info.device))
    model_id = vlm.info.id + ("+storyboard" if layout == "storyboard" else "")  # the memo keeps layouts apart
    found = {c.id: memo.get("describe", memo_key(c, model_id)) for c in work} if memo else {}
    cached = {cid: str(v["text"]) for cid, v in found.items() if v and v.get("text")}
    todo = [c for c in work if c.id not in cached]
    started = time.perf_counter()
    on_gpu = str(vlm.info.device).startswith("cuda")
    texts, calls, frames, warnings = describe_chunks(
        todo,
        vlm,
        context=settings.context,
        batch_size=options.gpu_describe_batch if on_gpu else options.describe_batch,
        max_new_tokens=options.describe_tokens,
        on_progress=_stage(progress, "describe", len(todo)),
        layout=layout,
    )
    outcome.describe_layout, outcome.vlm_images = layout, len(todo) if layout == "storyboard" else frames
    progress.finish("describe")
    if memo:
        for chunk in todo:
            if chunk.id in texts:
                memo.put("describe", memo_key(chunk, model_id), {"text": texts[chunk.id]})
    outcome.vlm_calls, outcome.frames_to_vlm = calls, frames
    _warn(progress, outcome, warnings)
    _log_time(progress, "describe", started)
    models.stage_done("describer")
    return {**cached, **texts}


def _ground(
    described: Sequence[Chunk], models: ModelSession, progress: Progress, outcome: EventsOutcome
) -> dict[int, tuple[Keyframe, ...]]:
    if not described or models.spec("grounder") is None:
        return {}
    grounder = models.grounder()
    if grounder is None:
        return {}
    progress.start("ground", len(described), unit="chunks")
    grounded, warnings = ground_chunks(described, grounder)
    progress.finish("ground")
    _warn(progress, outcome, warnings)
    models.stage_done("grounder")
    return grounded


def _reason(
    described: Sequence[Chunk],
    descriptions: dict[int, str],
    settings: Settings,
    models: ModelSession,
    progress: Progress,
    memo: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
    facts: Callable[[float, float], str] | None = None,
) -> dict[int, Judgement]:
    if not described:
        return {}
    llm = models.reasoner()
    if llm is None:  # no reasoner: the description stands, judged normal with low confidence
        return {c.id: _unjudged(c.id, descriptions[c.id]) for c in described}
    fact = {c.id: facts(c.start_s, c.end_s) for c in described} if facts else {}
    keys = {c.id: memo_key(c, llm.info.id + _fact_tag(fact.get(c.id, ""))) for c in described}
    found = {c.id: memo.get("judge", keys[c.id]) for c in described} if memo else {}
    cached = {cid: Judgement(cid, v["level"], v["confidence"], v["title"]) for cid, v in found.items() if v}
    items = [JudgeItem(c.id, c.start_s, c.end_s, descriptions[c.id], fact.get(c.id, "")) for c in described]
    todo = [i for i in items if i.chunk_id not in cached]
    verdicts, calls, warnings = judge(
        todo,
        llm,
        context=settings.context,
        rubric=settings.rubric,
        group_size=options.judge_group,
        on_progress=_stage(progress, "reason", len(todo)),
    )
    progress.finish("reason")
    if memo:
        for chunk in described:
            if (j := verdicts.get(chunk.id)) is not None:
                memo.put(
                    "judge",
                    keys[chunk.id],
                    {"level": j.threat_level, "confidence": j.confidence, "title": j.title},
                )
    outcome.llm_calls += calls
    _warn(progress, outcome, warnings)
    return {**cached, **verdicts}


def _fact_tag(fact: str) -> str:
    """A verdict judged with camera facts is kept apart from one judged without (or with others)."""
    return f"+camera:{hashlib.sha256(fact.encode()).hexdigest()[:12]}" if fact else ""


def _unjudged(chunk_id: int, description: str) -> Judgement:
    first = description.split(". ")[0]
    return Judgement(chunk_id, 0, 0.3, clean_title(first))


def _summary(
    events: Sequence[Event],
    settings: Settings,
    models: ModelSession,
    options: AnalysisOptions,
    outcome: EventsOutcome,
    info: VideoInfo,
) -> str:
    lines = [f"{clock(e.start_s)} level {e.threat_level}: {e.title}. {e.description[:200]}" for e in events]
    llm = models.reasoner() if lines else None
    text, calls = (
        summarise(lines, llm, context=settings.context, max_new_tokens=options.summary_tokens) if llm else (None, 0)
    )
    outcome.llm_calls += calls
    if text:
        return text
    worst = max((e.threat_level for e in events), default=0)
    from veille.i18n import count

    return f"{count(len(events), 'event')} in {info.duration_s:.0f} s of video; highest threat level {worst}."


def _warn(progress: Progress, outcome: EventsOutcome, warnings: Sequence[str]) -> None:
    for warning in warnings:
        progress.warn(warning)
    outcome.warnings.extend(warnings)


def _log_time(progress: Progress, stage: str, started: float) -> None:
    import logging

    logging.getLogger(__name__).info("%s took %.1f s", stage, time.perf_counter() - started)
