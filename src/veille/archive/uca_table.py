"""The table and the JSON that ``veille eval search`` prints."""

from __future__ import annotations

from typing import Any

from veille.archive.uca_eval import METHODS, K, SearchEval


def format_search_eval(result: SearchEval) -> str:
    """A plain-text table: precision@10 per query and method, then the means."""
    width = max(len("query"), *(len(q.text) for q in result.queries))
    category = max(len("category"), *(len(q.category) for q in result.queries))
    lines = [
        f"{result.dataset}: {result.videos:,} videos, {result.events:,} events; embeddings {result.model}; "
        f"precision@{K}",
        f"{'query':{width}}  {'category':{category}}" + "".join(f"{m:>7}" for m in METHODS),
    ]
    for i, query in enumerate(result.queries):
        cells = "".join(f"{result.precision[m][i]:7.2f}" for m in METHODS)
        lines.append(f"{query.text:{width}}  {query.category:{category}}{cells}")
    lines.append(f"{'mean':{width}}  {'':{category}}" + "".join(f"{result.mean(m):7.3f}" for m in METHODS))
    return "\n".join(lines)


def search_eval_json(result: SearchEval) -> dict[str, Any]:
    """The result as JSON-ready data."""
    return {
        "dataset": result.dataset,
        "videos": result.videos,
        "events": result.events,
        "model": result.model,
        "k": K,
        "queries": [
            {"query": q.text, "category": q.category, "precision": {m: result.precision[m][i] for m in METHODS}}
            for i, q in enumerate(result.queries)
        ],
        "mean": {m: result.mean(m) for m in METHODS},
    }
