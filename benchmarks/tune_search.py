"""How the weights of archive search's ranking (``veille.archive.fusion``) were chosen.

A grid of :class:`FusionParams` is scored on one UCA split (the training split; the validation split is
kept for the figure in the README) with three short phrasings of the 13 queries (``uca_queries_short.json``
and the two ``alt`` sets beside it). The objective is the mean *video-level average precision*: videos
ranked by their best event's fused score, averaged over every video of the query's category. It uses
every relevant video, where precision@10 hangs on the first one or two videos a query lands on: tuned on
precision@5/10/20, the grid's scores on the two splits are anti-correlated (the best setting on one split
is among the worst on the other); tuned on video AP they agree (``--holdout`` prints both). Then the query
files are compared under the chosen weights by the same objective, and the best one is the built-in set.

Run:  python benchmarks/tune_search.py --uca UCFCrime_Train.json [--holdout UCFCrime_Val.json]
(the event embeddings are cached by ``veille eval search``; the first run embeds each split once).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from veille.archive.fusion import FusionParams, fused_scores_with
from veille.archive.uca_eval import QUERIES_FILE, K, QueryScores, query_scores

DATA = QUERIES_FILE.parent
TUNING_SETS = [DATA / "uca_queries_short.json", DATA / "uca_queries_alt1.json", DATA / "uca_queries_alt2.json"]
DEPTHS = (5, 10, 20)
GRID = {
    "video_weight": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    "video_temperature": [0.0, 0.125, 0.25, 0.5, 1.0, 2.0],
    "lexical_video_weight": [0.0, 2.0, 4.0, 8.0, 16.0],
    "lexical_video_temperature": [1.0, 2.0, 4.0],
}


def measures(params: FusionParams, scored: QueryScores) -> np.ndarray:
    """Per query: video AP, then precision at each of :data:`DEPTHS`: ``(queries, 1 + len(DEPTHS))``."""
    events = scored.events
    video_category = np.empty(events.videos, dtype=events.categories.dtype)
    video_category[events.groups] = events.categories
    rows = []
    for column, query in enumerate(scored.queries):
        fused = fused_scores_with(scored.dense[:, column], scored.lexical[:, column], events.groups, events.starts,
                                  params)  # fmt: skip
        best = np.full(events.videos, -np.inf)
        np.maximum.at(best, events.groups, fused)
        relevant = video_category[np.argsort(-best, kind="stable")] == query.category
        ranks = np.flatnonzero(relevant) + 1
        video_ap = float((np.arange(1, ranks.size + 1) / ranks).mean()) if ranks.size else 0.0
        top = events.categories[np.argsort(-fused, kind="stable")[: max(DEPTHS)]] == query.category
        rows.append([video_ap, *(top[:depth].mean() for depth in DEPTHS)])
    return np.array(rows)


def grid() -> list[FusionParams]:
    """Every combination of :data:`GRID` (one lexical temperature when BM25 is off)."""
    combos = [FusionParams(*values) for values in itertools.product(*GRID.values())]
    return [p for p in combos if p.lexical_video_weight or p.lexical_video_temperature == 1.0]


def score_grid(sets: list[QueryScores]) -> dict[FusionParams, np.ndarray]:
    """Every setting's measures averaged over the queries of each set: ``(sets, 1 + len(DEPTHS))``."""
    return {params: np.array([measures(params, scored).mean(axis=0) for scored in sets]) for params in grid()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uca", type=Path, required=True, help="the UCA split to tune on (the training split)")
    parser.add_argument("--holdout", type=Path, help="another split: where the chosen setting lands there")
    parser.add_argument("--top", type=int, default=5, help="how many of the best settings to print")
    args = parser.parse_args()
    p10 = 1 + DEPTHS.index(K)
    tuned = score_grid([query_scores(args.uca, path) for path in TUNING_SETS])
    ranked = sorted(tuned, key=lambda p: -tuned[p][:, 0].mean())
    print(f"{len(ranked)} settings on {args.uca.name}; objective: mean video AP over {len(TUNING_SETS)} query sets")
    for params in ranked[: args.top]:
        per_set = np.round(tuned[params][:, p10], 3).tolist()
        print(f"{tuned[params][:, 0].mean():.3f}  p@{K} per set {per_set}  {params}")
    default = FusionParams()
    print(f"the defaults {default}: rank {ranked.index(default) + 1 if default in tuned else None}")
    chosen = ranked[0]
    print(f"query files under {chosen}:")
    for path in [QUERIES_FILE, *TUNING_SETS]:
        video_ap, *precision = measures(chosen, query_scores(args.uca, path)).mean(axis=0)
        print(f"  {path.name:28} video AP {video_ap:.3f}  p@{'/'.join(map(str, DEPTHS))} {np.round(precision, 3)}")
    if args.holdout:
        held = score_grid([query_scores(args.holdout, path) for path in TUNING_SETS])
        for objective, column in (("video AP", 0), (f"p@{K}", p10)):
            mine = np.array([tuned[p][:, column].mean() for p in ranked])
            theirs = np.array([held[p][:, column].mean() for p in ranked])
            agreement = np.corrcoef(mine, theirs)[0, 1]
            print(f"{objective}: correlation of the settings' scores on the two splits {agreement:.2f}")
        order = sorted(held, key=lambda p: -held[p][:, 0].mean())
        print(f"the chosen setting on {args.holdout.name}: rank {order.index(chosen) + 1} of {len(order)}, "
              f"p@{K} per set {np.round(held[chosen][:, p10], 3).tolist()}")  # fmt: skip


if __name__ == "__main__":
    main()
