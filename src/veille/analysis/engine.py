"""Run the models over the chunks: describe → ground → reason → events and summary."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from veille.analysis.describe import describe_chunks
from veille.analysis.events import ChunkResult, build_events
from veille.analysis.ground import best_keyframe, ground_chunks
from veille.analysis.keyframes import InMemoryKeyframes, KeyframeStore
from veille.analysis.outcome import EventsOutcome
from veille.analysis.parsing import clean_title
from veille.analysis.prompts import JudgeItem, clock
from veille.analysis.reason import judge, summarise
from veille.progress import Progress
from veille.types import Chunk, Event, Judgement, Keyframe, VideoInfo

if TYPE_CHECKING:
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
    chunks: Iterable[Chunk],
    settings: Settings,
    manager: Any,
    *,
    progress: Progress,
    memo: Any | None = None,
    options: AnalysisOptions | None = None,
    keyframes: KeyframeStore | None = None,
) -> EventsOutcome:
    """Describe, ground and judge the chunks with the manager's models; events, summary and counts.

    ``chunks`` may be a lazy stream (the scan's): they are described in windows of the describer's
    batch size and handed to ``keyframes`` as soon as they are described (the pipeline's store
    writes their thumbnails and drops the images); grounding and judging see only what it kept.
    A describer that cannot be had gives motion-only events (the manager warns, or raises when strict).
    """
    options = options or AnalysisOptions()
    store = keyframes or InMemoryKeyframes()
    outcome = EventsOutcome(events=[])
    kept: list[Chunk] = []
    descriptions = _describe(chunks, kept, store, settings, manager, progress, memo, options, outcome)
    if descriptions is None:
        return outcome
    kept.sort(key=lambda c: c.id)
    described = [c for c in kept if c.id in descriptions]
    grounded = _ground(described, store, settings, manager, progress, outcome)
    verdicts = _reason(described, descriptions, settings, manager, progress, memo, options, outcome)
    results = [
        ChunkResult(c, descriptions.get(c.id), verdicts.get(c.id), grounded.get(c.id, c.keyframes)) for c in kept
    ]
    outcome.events = build_events(results, info.width, info.height, keyframes=settings.scan.keyframes_per_chunk)
    outcome.summary = _summary(outcome.events, settings, manager, options, outcome, info)
    outcome.models = manager.info()
    if not settings.keep_models_loaded:
        manager.close()
    return outcome


def describable(chunk: Chunk) -> bool:
    """Whether a chunk goes to the describer (heartbeats and chunks without keyframes do not)."""
    return not chunk.heartbeat and bool(chunk.keyframes)


def _stage(progress: Progress, name: str, total: int) -> Any:
    progress.start(name, total, unit="chunks")
    return lambda done: progress.update(name, done)


def _describe(
    chunks: Iterable[Chunk],
    kept: list[Chunk],
    store: KeyframeStore,
    settings: Settings,
    manager: Any,
    progress: Progress,
    memo: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
) -> dict[int, str] | None:
    """Descriptions by chunk id, every chunk going to ``kept`` (through ``store``) once described.

    The describer is loaded at the first chunk to describe (none for a video without activity);
    None when it cannot be had (the chunks are still kept, for motion-only events).
    """
    stream = iter(chunks)
    for chunk in stream:  # no describer is loaded before the first chunk to describe
        if describable(chunk):
            stream = _prepend(chunk, stream)
            break
        kept.append(store.keep(chunk))
    else:
        return {}
    vlm = manager.get("describer")
    if vlm is None:
        kept += [store.keep(c) for c in stream]
        return None
    model_id = vlm.info.id
    started = time.perf_counter()
    on_gpu = str(vlm.info.device).startswith("cuda")
    batch_size = options.gpu_describe_batch if on_gpu else options.describe_batch
    texts: dict[int, str] = {}
    window: list[Chunk] = []  # chunks waiting for a full batch (only these hold their images)
    done = 0
    progress.start("describe", None, unit="chunks")
    for chunk in stream:
        found = memo.get("describe", memo_key(chunk, model_id)) if memo and describable(chunk) else None
        if found and found.get("text"):
            texts[chunk.id] = str(found["text"])
        if not describable(chunk) or chunk.id in texts:
            kept.append(store.keep(chunk))
            del chunk  # its images go before the next chunk is decoded
            continue
        window.append(chunk)
        del chunk
        if len(window) == batch_size:
            done = _describe_window(window, vlm, model_id, texts, done, settings, progress, memo, options, outcome)
            kept += [store.keep(c) for c in window]
            window = []
    if window:
        _describe_window(window, vlm, model_id, texts, done, settings, progress, memo, options, outcome)
        kept += [store.keep(c) for c in window]
    progress.finish("describe")
    _log_time(progress, "describe", started)
    if not settings.keep_models_loaded:
        manager.release("describer")
    return texts


def _prepend(item: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    """``item`` then ``rest``, holding ``item`` no longer than needed (its images can go once it is done)."""
    yield item
    del item
    yield from rest


def _describe_window(
    window: Sequence[Chunk],
    vlm: Any,
    model_id: str,
    texts: dict[int, str],
    done: int,
    settings: Settings,
    progress: Progress,
    memo: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
) -> int:
    """Describe one batch of chunks (``done`` described before it); their descriptions go to ``texts``
    and the work cache. Returns how many chunks are described now."""
    found, calls, frames, warnings = describe_chunks(
        window,
        vlm,
        context=settings.context,
        batch_size=len(window),
        max_new_tokens=options.describe_tokens,
        on_progress=lambda n: progress.update("describe", done + n),
    )
    if memo:
        for chunk in window:
            if chunk.id in found:
                memo.put("describe", memo_key(chunk, model_id), {"text": found[chunk.id]})
    texts.update(found)
    outcome.vlm_calls += calls
    outcome.frames_to_vlm += frames
    _warn(progress, outcome, warnings)
    return done + len(window)


def _ground(
    described: Sequence[Chunk],
    store: KeyframeStore,
    settings: Settings,
    manager: Any,
    progress: Progress,
    outcome: EventsOutcome,
) -> dict[int, tuple[Keyframe, ...]]:
    if not described or manager.spec("grounder") is None:
        return {}
    grounder = manager.get("grounder")
    if grounder is None:
        return {}
    progress.start("ground", len(described), unit="chunks")
    grounded: dict[int, tuple[Keyframe, ...]] = {}
    for done, chunk in enumerate(described, 1):
        index = best_keyframe(chunk)
        image = store.image(chunk, index)  # one full-resolution image at a time
        frames = list(chunk.keyframes)
        frames[index] = replace(frames[index], image=image)
        found, warnings = ground_chunks([replace(chunk, keyframes=tuple(frames))], grounder)
        if chunk.id in found:
            frames = list(found[chunk.id])
            frames[index] = store.redraw(chunk, index, frames[index], image)
            grounded[chunk.id] = tuple(frames)
        _warn(progress, outcome, warnings)
        progress.update("ground", done)
    progress.finish("ground")
    if not settings.keep_models_loaded:
        manager.release("grounder")
    return grounded


def _reason(
    described: Sequence[Chunk],
    descriptions: dict[int, str],
    settings: Settings,
    manager: Any,
    progress: Progress,
    memo: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
) -> dict[int, Judgement]:
    if not described:
        return {}
    llm = manager.get("reasoner") if manager.spec("reasoner") is not None else None
    if llm is None:  # no reasoner: the description stands, judged normal with low confidence
        return {c.id: _unjudged(c.id, descriptions[c.id]) for c in described}
    key = llm.info.id
    found = {c.id: memo.get("judge", memo_key(c, key)) for c in described} if memo else {}
    cached = {cid: Judgement(cid, v["level"], v["confidence"], v["title"], "") for cid, v in found.items() if v}
    items = [JudgeItem(c.id, c.start_s, c.end_s, descriptions[c.id]) for c in described]
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
                    memo_key(chunk, key),
                    {"level": j.threat_level, "confidence": j.confidence, "title": j.title},
                )
    outcome.llm_calls += calls
    _warn(progress, outcome, warnings)
    return {**cached, **verdicts}


def _unjudged(chunk_id: int, description: str) -> Judgement:
    first = description.split(". ")[0]
    return Judgement(chunk_id, 0, 0.3, clean_title(first), "")


def _summary(
    events: Sequence[Event],
    settings: Settings,
    manager: Any,
    options: AnalysisOptions,
    outcome: EventsOutcome,
    info: VideoInfo,
) -> str:
    lines = [f"{clock(e.start_s)} level {e.threat_level}: {e.title}. {e.description[:200]}" for e in events]
    llm = manager.get("reasoner") if lines and manager.spec("reasoner") is not None else None
    text, calls = (
        summarise(lines, llm, context=settings.context, max_new_tokens=options.summary_tokens) if llm else (None, 0)
    )
    outcome.llm_calls += calls
    if text:
        return text
    worst = max((e.threat_level for e in events), default=0)
    return f"{len(events)} event(s) in {info.duration_s:.0f} s of video; highest threat level {worst}."


def _warn(progress: Progress, outcome: EventsOutcome, warnings: Sequence[str]) -> None:
    for warning in warnings:
        progress.warn(warning)
    outcome.warnings.extend(warnings)


def _log_time(progress: Progress, stage: str, started: float) -> None:
    import logging

    logging.getLogger(__name__).info("%s took %.1f s", stage, time.perf_counter() - started)
