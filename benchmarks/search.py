"""Search benchmark: a synthetic archive of report folders, indexed with the real MiniLM, then queried.

    python benchmarks/search.py [--events 100000] [--threads 2] [--queries 200] [--folder DIR] [--compare]

Writes ``--events`` events (50 per video, 8 cameras, texts drawn from a surveillance vocabulary) as
report folders, rebuilds the index from them as ``veille index`` does (reading, full-text and
embedding; events/s), then times queries as ``veille search`` runs them in a warm process (query
embedding, FTS5/BM25, similarity over every candidate, fusion, rows of the hits): p50 and p95,
plain and with filters, and the index size. ``--compare`` also times the similarity step alone
with NumPy and, when installed, sqlite-vec and usearch. Targets (issue 16): p95 ≤ 50 ms at
100,000 events on 2 cores, indexing ≥ 300 events/s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

WHO = ["A person", "A man", "A woman", "Two people", "A group of three people", "A delivery driver", "A cyclist",
       "A security guard", "A teenager", "An elderly man", "A child", "A man in a hoodie", "A woman with a dog"]
WEARING = ["in a dark jacket", "in a red coat", "wearing a cap", "with a backpack", "in a high-visibility vest",
           "with his face covered", "carrying a large bag", "pushing a trolley", "holding a phone", ""]
DOES = ["walks past", "stops at", "tries the handle of", "waits near", "looks around near", "runs toward",
        "climbs over", "leaves through", "enters through", "sits down by", "smokes beside", "takes a box from"]
WHERE = ["the back door", "the main gate", "the loading dock", "the parking lot", "the fence", "the side entrance",
         "the bike shelter", "the bins", "the front window", "the garage", "the reception desk", "the stairwell"]
VEHICLE = ["A white van", "A grey car", "A black SUV", "A delivery truck", "A motorbike", "A taxi", "A red hatchback"]
MOVES = ["parks near", "stops briefly at", "drives slowly past", "reverses toward", "leaves", "waits with its engine "
         "running at"]
AFTER = ["then walks away.", "and looks at the camera.", "for about a minute.", "and nobody else is around.",
         "while it is raining.", "at night, under the lamp.", "and talks on the phone.", "and leaves quickly.", ""]
QUERIES = ["person at the back door", "white van", "someone climbing the fence", "a man with his face covered",
           "car parked at night", "delivery at the loading dock", "people running", "someone trying doors",
           "a cyclist", "a dog", "a truck reversing", "somebody smoking", "a woman in a red coat", "theft of a box",
           "motorbike at the gate", "child near the bins", "person waiting with a phone", "group of teenagers",
           "suspicious person looking around", "taxi waiting with the engine running"]


def event_text(rng: random.Random) -> tuple[str, str, int]:
    """A title, a two-sentence description and a threat level."""
    if rng.random() < 0.3:
        subject, verb, place = rng.choice(VEHICLE), rng.choice(MOVES), rng.choice(WHERE)
    else:
        subject, verb, place = f"{rng.choice(WHO)} {rng.choice(WEARING)}".strip(), rng.choice(DOES), rng.choice(WHERE)
    title = f"{subject} {verb} {place}"[:120]
    second = f"{rng.choice(WHO)} {rng.choice(DOES)} {rng.choice(WHERE)}."
    description = f"{subject} {verb} {place} {rng.choice(AFTER)}".strip() + " " + second
    threat = 2 if "climbs" in verb or "face covered" in subject else (1 if "tries" in verb else 0)
    return title, description, threat


def write_archive(out: Path, events: int, per_video: int = 50, seed: int = 0) -> tuple[int, int]:
    """Report folders holding ``events`` events in all (8 cameras, one video an hour each).

    Returns the number of videos and of distinct event texts.
    """
    rng = random.Random(seed)
    distinct: set[str] = set()
    videos = (events + per_video - 1) // per_video
    for v in range(videos):
        hour = datetime(2024, 1, 1) + timedelta(hours=v // 8)
        name = f"cam{v % 8 + 1}_{hour:%Y%m%d_%H%M%S}"
        folder = out / name
        folder.mkdir(parents=True)
        n = min(per_video, events - v * per_video)
        rows = []
        for i in range(n):
            title, description, threat = event_text(rng)
            distinct.add(description)
            start = i * 60.0 + rng.random() * 30
            rows.append({"id": i, "start_s": start, "end_s": start + 5 + rng.random() * 20, "title": title,
                         "description": description, "threat_level": threat, "confidence": 0.8, "source": "vlm",
                         "keyframes": [{"t_s": start + 1, "image": f"thumbs/event{i:03d}_0.jpg", "boxes": []}]})
        report = {"schema_version": 1, "complete": True, "events": rows, "video": {
            "path": f"/nvr/{name}.mp4", "duration_s": 3600.0, "fps": 25.0, "width": 1920, "height": 1080,
            "frame_count": 90000, "codec": "h264"}}
        (folder / "report.json").write_text(json.dumps(report))
    return videos, len(distinct)


def percentiles(values: list[float], cpu: list[float] | None = None) -> str:
    """p50 and p95 in milliseconds (and of the CPU time, when given)."""

    def p50_p95(times: list[float]) -> tuple[float, float]:
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return statistics.median(ordered) * 1000, p95 * 1000

    text = "p50 {:6.1f} ms  p95 {:6.1f} ms".format(*p50_p95(values))
    return text + ("  (CPU time: p50 {:6.1f} ms  p95 {:6.1f} ms)".format(*p50_p95(cpu)) if cpu else "")


def time_queries(searcher: Any, queries: list[Any]) -> tuple[list[float], list[float]]:
    """Wall and CPU time of each search (query embedding included)."""
    wall, cpu = [], []
    for query in queries:
        started, used = time.perf_counter(), time.process_time()
        searcher.search(query)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return wall, cpu


def compare_vector_search(matrix: np.ndarray, queries: np.ndarray, k: int = 10) -> None:
    """The similarity step alone over the whole archive: NumPy, and sqlite-vec and usearch when installed."""
    def timed(fn: Any) -> str:
        fn(queries[0])
        times = []
        for q in queries:
            started = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - started)
        return percentiles(times)

    print(f"  numpy, every event's cosine: {timed(lambda q: matrix @ q)}")
    try:
        import sqlite3

        import sqlite_vec

        db = sqlite3.connect(":memory:")
        if not hasattr(db, "enable_load_extension"):
            raise ImportError("this Python's sqlite3 cannot load extensions")
        db.enable_load_extension(True)
        sqlite_vec.load(db)
        db.execute(f"CREATE VIRTUAL TABLE v USING vec0(e float[{matrix.shape[1]}] distance_metric=cosine)")
        db.executemany("INSERT INTO v(rowid, e) VALUES (?, ?)", ((i, r.tobytes()) for i, r in enumerate(matrix)))
        sql = "SELECT rowid, distance FROM v WHERE e MATCH ? AND k = ?"
        print(f"  sqlite-vec, top {k} only: {timed(lambda q: db.execute(sql, (q.tobytes(), k)).fetchall())}")
    except ImportError as exc:
        print(f"  sqlite-vec: {exc}")
    try:
        from usearch.index import Index, search

        print(f"  usearch exact, top {k} only: {timed(lambda q: search(matrix, q, k, 'cos', exact=True))}")
        index = Index(ndim=matrix.shape[1], metric="cos")
        index.add(np.arange(len(matrix)), matrix)
        print(f"  usearch HNSW (approximate), top {k} only: {timed(lambda q: index.search(q, k))}")
    except ImportError:
        print("  usearch: not installed")


def runtimes_side_by_side(embedder: Any, texts: list[str]) -> None:
    """The embedding model on ONNX Runtime (what ``veille`` runs) and on PyTorch, on the same texts."""
    from veille.archive.embedder import Embedder, resolve

    torch_only = Embedder(embedder.name, resolve(embedder.name)[1], runtime="torch")
    for name, model in ((embedder.runtime, embedder), ("torch", torch_only)):
        model.encode(texts[:64])
        started = time.perf_counter()
        model.encode(texts)
        took = time.perf_counter() - started
        wall = []
        for text in QUERIES * 5:
            begun = time.perf_counter()
            model.encode([text])
            wall.append(time.perf_counter() - begun)
        print(f"  {name:<5} {len(texts) / took:6.0f} texts/s in batches; one query: {percentiles(wall)}")


def ceiling(embedder: Any, texts: list[str], threads: int) -> None:
    """The most events/s the model's arithmetic allows on this machine, from its best fp32 matrix product."""
    import torch

    config = embedder._model.config
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = sum(len(embedder._tokenizer(t)["input_ids"]) for t in texts) / len(texts)
    flops = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner) * tokens  # the linear layers only
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)  # a large product: the kernels' best case
    for _ in range(3):
        a @ b
    started, rounds = time.perf_counter(), 10
    for _ in range(rounds):
        a @ b
    rate = 2 * 2048**3 * rounds / (time.perf_counter() - started)
    print(f"  arithmetic ceiling: {tokens:.0f} tokens per event, {flops / 1e9:.2f} GFLOP of matrix products each; "
          f"a large fp32 matrix product runs at {rate / 1e9:.0f} GFLOP/s on {threads} threads here "
          f"-> about {rate / flops:.0f} events/s if embedding were nothing but such products")  # fmt: skip


def build(out: Path, events: int, threads: int) -> Any:
    """Write the archive and index it as ``veille index`` does; print the figures; return the embedder."""
    from veille.archive.embedder import load_embedder
    from veille.archive.indexer import index_path, rebuild

    started = time.perf_counter()
    videos, distinct = write_archive(out, events)
    print(f"archive: {events} events ({distinct} distinct texts) in {videos} report folders")
    embedder = load_embedder()
    started, used = time.perf_counter(), time.process_time()
    rebuild(out, embedder)
    took, cpu = time.perf_counter() - started, time.process_time() - used
    size = index_path(out).stat().st_size
    print(f"index build (veille index): {took:.1f} s, {events / took:.0f} events/s on {threads} threads "
          f"(embedder on {embedder.runtime})")  # fmt: skip
    print(f"  CPU time {cpu:.1f} s: {cpu / events * 1000:.1f} ms per event, all threads together")
    print(f"index size: {size / 1e6:.1f} MB ({size / events:.0f} bytes per event)")
    rng = random.Random(2)
    sample = [event_text(rng)[1] for _ in range(2000)]  # what is embedded: the description holds the title
    print(f"embedding runtimes side by side ({threads} threads, 2,000 event texts):")
    runtimes_side_by_side(embedder, sample)
    ceiling(embedder, sample, threads)
    return embedder


def query_figures(out: Path, embedder: Any, count: int, compare: bool) -> None:
    """Query latency in a warm process: whole queries, plain and filtered, and their parts."""
    from veille.archive.indexer import index_path
    from veille.archive.search import Query, Searcher
    from veille.archive.store import Store

    store = Store(index_path(out))
    searcher = Searcher(store, embedder)
    started = time.perf_counter()
    snap = searcher.snapshot()
    print(f"first query's read of the index into memory: {(time.perf_counter() - started) * 1000:.0f} ms (once)")
    rng = random.Random(1)
    texts = [QUERIES[i % len(QUERIES)] for i in range(count)]
    time_queries(searcher, [Query(t) for t in QUERIES])  # warm-up
    print(f"query, no filter:          {percentiles(*time_queries(searcher, [Query(t) for t in texts]))}")
    middle = float(np.nanmedian(snap.video_start))
    filtered = [Query(t, camera=f"cam{rng.randint(1, 8)}", since=middle, threat=rng.choice([None, 1])) for t in texts]
    print(f"query, camera+time+threat: {percentiles(*time_queries(searcher, filtered))}")
    unit = embedder.encode(["x"])[0]
    parts = {
        f"query embedding ({embedder.runtime})": lambda text: embedder.encode([text]),
        "similarity (float16, every event)": lambda text: snap.similarity(unit),
        "BM25 (every event)": lambda text: snap.lexical.scores(text),
    }
    for name, part in parts.items():
        wall, cpu = [], []
        for text in texts[:50]:
            started, used = time.perf_counter(), time.process_time()
            part(text)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
        print(f"  of which {name}: {percentiles(wall, cpu)}")
    if compare:
        compare_vector_search(snap.vectors.float().numpy(), embedder.encode(QUERIES))
    store.close()


def cli_figure(out: Path) -> None:
    """Wall time of one whole ``veille search`` command, from a cold start."""
    cli = [sys.executable, "-m", "veille", "search", "white van at night", "--out", str(out), "--json"]
    started = time.perf_counter()
    subprocess.run(cli, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - started
    print(f"one whole `veille search` command (start-up, model, index read, query): {took:.1f} s")


def main() -> None:
    """Build the archive, index it, time the queries, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is 2 cores)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--folder", type=Path, help="where to write the archive (default: a temporary folder)")
    parser.add_argument("--compare", action="store_true", help="also time NumPy, sqlite-vec and usearch alone")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.folder or Path(scratch) / "out"
        embedder = build(out, args.events, args.threads)
        query_figures(out, embedder, args.queries, args.compare)
        cli_figure(out)


if __name__ == "__main__":
    main()
