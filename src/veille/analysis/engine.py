"""Run the models over the chunks: describe → ground → reason → events and summary."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from veille.analysis.describe import Layout, describe_chunks, resolve_layout
from veille.analysis.events import ChunkResult, build_events
from veille.analysis.ground import best_keyframe, ground_chunks
from veille.analysis.keyframes import InMemoryKeyframes, KeyframeStore
from veille.analysis.outcome import EventsOutcome
from veille.analysis.parsing import clean_title
from veille.analysis.prompts import JudgeItem
from veille.analysis.reason import judge, summarise
from veille.i18n import clock
from veille.progress import Progress
from veille.types import Chunk, Event, Judgement, Keyframe, VideoInfo

if TYPE_CHECKING:
    from veille.backends.base import VisionLanguageModel
    from veille.models.session import ModelSession
    from veille.settings import Settings
    from veille.workcache import Memo


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """How hard the models work; the defaults are tuned for 2 CPU cores (see benchmarks/analysis.py)."""

    describe_batch: int = 2  # chunks per describer call on a CPU, each shown as its keyframes
    storyboard_batch: int = 4  # ... each shown as one storyboard (4 in one call: ~13 % less time than 2 + 2)
    gpu_describe_batch: int = 8
    describe_tokens: int = 48
    judge_group: int = 7
    summary_tokens: int = 64


def memo_key(chunk: Chunk, model_id: str) -> str:
    """The memo key of a chunk's result for one model."""
    return f"{chunk.start_s:.3f}-{chunk.end_s:.3f}:{model_id}"


def run_models(
    info: VideoInfo | Callable[[], VideoInfo],
    chunks: Iterable[Chunk],
    settings: Settings,
    models: ModelSession,
    *,
    progress: Progress,
    memo: Memo | None = None,
    options: AnalysisOptions | None = None,
    keyframes: KeyframeStore | None = None,
    facts: Callable[[float, float], str] | None = None,
) -> EventsOutcome:
    """Describe, ground and judge the chunks with the session's models; events, summary and counts.

    ``chunks`` may be a lazy stream (the scan's): they are described in windows of the describer's
    batch size and handed to ``keyframes`` as soon as they are described (the pipeline's store
    writes their thumbnails and drops the images); grounding and judging see only what it kept.
    A describer that cannot be had gives motion-only events (the manager warns, or raises when strict).
    The session is told when each stage is done; it decides which models to free then.
    ``facts(start_s, end_s)``, when given, tells the judge how usual a chunk's movement is for the camera;
    it is first called once every chunk has been described (the scan is over then). ``info`` may be a
    callable giving the video once the chunks are exhausted (the scan learns where a cut file stops).
    """
    options = options or AnalysisOptions()
    store = keyframes or InMemoryKeyframes()
    outcome = EventsOutcome(events=[])
    kept: list[Chunk] = []
    descriptions = _describe(chunks, kept, store, settings, models, progress, memo, options, outcome)
    if descriptions is None:
        return outcome
    kept.sort(key=lambda c: c.id)
    described = [c for c in kept if c.id in descriptions]
    grounded = _ground(described, store, models, progress, outcome)
    verdicts = _reason(described, descriptions, settings, models, progress, memo, options, outcome, facts)
    results = [
        ChunkResult(c, descriptions.get(c.id), verdicts.get(c.id), grounded.get(c.id, c.keyframes)) for c in kept
    ]
    video = info() if callable(info) else info
    outcome.events = build_events(results, video.width, video.height, keyframes=settings.scan.keyframes_per_chunk)
    outcome.summary = _summary(outcome.events, settings, models, options, outcome, video)
    outcome.models = models.info()
    return outcome


def describable(chunk: Chunk) -> bool:
    """Whether a chunk goes to the describer (heartbeats and chunks without keyframes do not)."""
    return not chunk.heartbeat and bool(chunk.keyframes)


def _stage(progress: Progress, name: str, total: int) -> Callable[[int], None]:
    progress.start(name, total, unit="chunks")
    return lambda done: progress.update(name, done)


def _describe(
    chunks: Iterable[Chunk],
    kept: list[Chunk],
    store: KeyframeStore,
    settings: Settings,
    models: ModelSession,
    progress: Progress,
    memo: Memo | None,
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
    vlm = models.describer()
    if vlm is None:
        kept += [store.keep(c) for c in stream]
        return None
    layout = resolve_layout(settings.describe.layout, str(vlm.info.device))
    model_id = vlm.info.id + ("+storyboard" if layout == "storyboard" else "")  # the memo keeps layouts apart
    outcome.describe_layout = layout
    key = (model_id, layout)
    started = time.perf_counter()
    on_gpu = str(vlm.info.device).startswith("cuda")
    batch_size = options.gpu_describe_batch if on_gpu else options.describe_batch
    if layout == "storyboard" and not on_gpu:
        batch_size = options.storyboard_batch
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
            done = _describe_window(window, vlm, key, texts, done, settings, progress, memo, options, outcome)
            kept += [store.keep(c) for c in window]
            window = []
    if window:
        _describe_window(window, vlm, key, texts, done, settings, progress, memo, options, outcome)
        kept += [store.keep(c) for c in window]
    progress.finish("describe")
    _log_time(progress, "describe", started)
    models.stage_done("describer")
    return texts


def _prepend(item: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    """``item`` then ``rest``, holding ``item`` no longer than needed (its images can go once it is done)."""
    yield item
    del item
    yield from rest


def _describe_window(
    window: Sequence[Chunk],
    vlm: VisionLanguageModel,
    key: tuple[str, Layout],
    texts: dict[int, str],
    done: int,
    settings: Settings,
    progress: Progress,
    memo: Memo | None,
    options: AnalysisOptions,
    outcome: EventsOutcome,
) -> int:
    """Describe one batch of chunks (``done`` described before it); their descriptions go to ``texts``
    and the work cache. ``key`` is the memo's model id and the layout. Returns how many chunks are described now."""
    model_id, layout = key
    found, calls, frames, warnings = describe_chunks(
        window,
        vlm,
        context=settings.context,
        batch_size=len(window),
        max_new_tokens=options.describe_tokens,
        on_progress=lambda n: progress.update("describe", done + n),
        layout=layout,
    )
    if memo:
        for chunk in window:
            if chunk.id in found:
                memo.put("describe", memo_key(chunk, model_id), {"text": found[chunk.id]})
    texts.update(found)
    outcome.vlm_calls += calls
    outcome.frames_to_vlm += frames
    outcome.vlm_images += len(window) if layout == "storyboard" else frames
    _warn(progress, outcome, warnings)
    return done + len(window)


def _ground(
    described: Sequence[Chunk],
    store: KeyframeStore,
    models: ModelSession,
    progress: Progress,
    outcome: EventsOutcome,
) -> dict[int, tuple[Keyframe, ...]]:
    if not described or models.spec("grounder") is None:
        return {}
    grounder = models.grounder()
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
    models.stage_done("grounder")
    return grounded


def _reason(
    described: Sequence[Chunk],
    descriptions: dict[int, str],
    settings: Settings,
    models: ModelSession,
    progress: Progress,
    memo: Memo | None,
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
    lines = [summary_line(e) for e in events]
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


def summary_line(event: Event) -> str:
    """What the summary is written from, per event: its times, level and the judge's title.

    The titles already condense the descriptions the judge read; a few tokens per event keep the
    summary's prompt short (on a CPU its prompt costs more than its words) and one call covers
    ~75 events before the summary has to be built in rounds.
    """
    return f"{clock(event.start_s)}-{clock(event.end_s)} level {event.threat_level}: {event.title}"


def _warn(progress: Progress, outcome: EventsOutcome, warnings: Sequence[str]) -> None:
    for warning in warnings:
        progress.warn(warning)
    outcome.warnings.extend(warnings)


def _log_time(progress: Progress, stage: str, started: float) -> None:
    import logging

    logging.getLogger(__name__).info("%s took %.1f s", stage, time.perf_counter() - started)
