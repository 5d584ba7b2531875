"""Reason: the LLM judges several described chunks per call; then a batch → aggregate summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from veille.analysis.parsing import clean_description, clean_title, parse_judgements
from veille.analysis.prompts import JudgeItem, summary_prompt
from veille.analysis.prompts import judge_prompt as make_judge_prompt
from veille.backends.base import ScoringTextModel, TextModel
from veille.errors import BackendError
from veille.i18n import count
from veille.types import Judgement

#: Tokens the reasoner may write per judged chunk (``[12] | 1 | 0.7 | Man tries the door handle``).
TOKENS_PER_VERDICT = 18
#: Tokens of a title when the level is read from the model's probabilities (a title of ≤ 8 words).
TITLE_TOKENS = 12
#: The level answers a scoring reasoner weighs.
LEVEL_CHOICES = (" 0", " 1", " 2")
#: Aggregation rounds of the summary before the partial summaries are simply joined.
MAX_ROUNDS = 4


def judge(
    items: Sequence[JudgeItem],
    llm: TextModel,
    *,
    context: str = "",
    rubric: str | None = None,
    group_size: int = 4,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[int, Judgement], int, list[str]]:
    """Verdicts by chunk id, the number of model calls, and warnings; ``group_size`` chunks per prompt.

    A reasoner that can weigh answers (:class:`~veille.backends.base.ScoringTextModel`, the local
    models) gives each level as the most probable of 0/1/2, its probability as the confidence, and
    writes only the title; others write ``id | level | confidence | title`` lines that are parsed.
    """
    out: dict[int, Judgement] = {}
    warnings: list[str] = []
    calls = 0
    size = max(1, group_size)
    for start in range(0, len(items), size):
        group = items[start : start + size]
        before = items[start - 1].description if start > 0 else ""
        after = items[start + size].description if start + size < len(items) else ""
        verdicts: dict[int, Judgement] | None = None
        if isinstance(llm, ScoringTextModel):
            prompt = make_judge_prompt(group, context=context, rubric=rubric, before=before, after=after, scored=True)
            verdicts, used = _judge_scored(group, llm, prompt, warnings)
            calls += used
        if verdicts is None:
            prompt = make_judge_prompt(group, context=context, rubric=rubric, before=before, after=after)
            verdicts = _judge_written(group, llm, prompt, warnings)
            calls += 1
        out.update(verdicts)
        if on_progress:
            on_progress(start + len(group))
    return out, calls, warnings


def _judge_written(
    group: Sequence[JudgeItem], llm: TextModel, prompt: str, warnings: list[str]
) -> dict[int, Judgement]:
    try:
        text = llm.generate(prompt, max_new_tokens=TOKENS_PER_VERDICT * len(group) + 4, stop=("Scenes:",))
    except BackendError as exc:
        warnings.append(f"reasoner failed on {count(len(group), 'chunk')}: {exc}")
        text = ""
    verdicts, problems = parse_judgements(text, [i.chunk_id for i in group])
    warnings += problems
    return verdicts


def _judge_scored(
    group: Sequence[JudgeItem], llm: ScoringTextModel, prompt: str, warnings: list[str]
) -> tuple[dict[int, Judgement] | None, int]:
    """Answer ``[id] level: N title: …`` for each chunk, side by side: N weighed, the title written.

    Two batched calls per group: the levels of all its chunks, then their titles. None if the
    levels can't be weighed.
    """
    heads = [f" [{item.chunk_id}] level:" for item in group]
    try:
        probs = llm.choose_each(prompt, LEVEL_CHOICES, heads)
        if probs is None:
            return None, 1
        levels = [max(range(len(p)), key=p.__getitem__) for p in probs]
        starts = [f"{head} {level} title:" for head, level in zip(heads, levels, strict=True)]
        written = llm.continue_each(prompt, starts, max_new_tokens=TITLE_TOKENS, stop=("\n", "["))
    except BackendError as exc:
        warnings.append(f"reasoner failed on {count(len(group), 'chunk')}: {exc}")
        return {}, 2
    verdicts = {}
    for item, level, p, text in zip(group, levels, probs, written, strict=True):
        title = clean_title(text) or clean_title(item.description.split(". ")[0])
        verdicts[item.chunk_id] = Judgement(item.chunk_id, level, round(float(p[level]), 3), title)
    return verdicts, 2


def summarise(
    lines: Sequence[str], llm: TextModel, *, context: str = "", max_chars: int = 3000, max_new_tokens: int = 64
) -> tuple[str | None, int]:
    """A two-sentence summary of event lines, built batch → aggregate when they outgrow ``max_chars``.

    Returns the summary (``None`` when the model gave nothing usable) and the number of calls.
    """
    if not lines:
        return None, 0
    calls = 0
    texts, partial = list(lines), False
    for _round in range(MAX_ROUNDS):
        batches = _batches(texts, max_chars)
        results = []
        for batch in batches:
            calls += 1
            try:
                answer = llm.generate(
                    summary_prompt(batch, context=context, partial=partial), max_new_tokens=max_new_tokens
                )
            except BackendError:
                answer = ""
            cleaned = clean_description(answer, max_chars=600)
            if cleaned:
                results.append(cleaned)
        if len(batches) == 1 or len(results) <= 1:
            return (results[0] if results else None), calls
        texts, partial = results, True
    return " ".join(texts)[:1200], calls


def _batches(lines: Sequence[str], max_chars: int) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if batches[-1] and size + len(line) > max_chars:
            batches.append([])
            size = 0
        batches[-1].append(line)
        size += len(line)
    return batches
