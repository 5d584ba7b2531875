"""``veille serve`` benchmark: server time of each page over a synthetic archive.

    python benchmarks/serve.py [--videos 2000] [--per-video 50] [--requests 40] [--folder DIR]

Builds the index directly through the store's API (``Store.replace_video``, random unit embeddings
recorded as MiniLM's): ``--videos`` one-hour videos of ``--per-video`` events each (100,000 by
default), 8 cameras; the 20 videos whose pages are timed also get a ``report.json`` with keyframe boxes,
stretches of movement and a five-a-second anomaly curve (18,000 points), as the pages read them.
Then times each page through Starlette's TestClient in a warm process (the request, the index
reads, the template): home (plain, filtered, a later page), video (each first view reads and parses
its report; views again find it in memory), event, search (real MiniLM query
embedding, hybrid search over every event) and ask (no reasoner). Prints median and p95 in ms;
target (issue 17): ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import QUERIES, event_text

TIMED_VIDEOS = 20


def _video_row(v: int, per_video: int, rng: random.Random) -> Any:
    from veille.archive.reports import EventRow, VideoRow
    from veille.archive.videotime import VideoStart

    hour = datetime(2024, 1, 1) + timedelta(hours=v // 8)
    name = f"cam{v % 8 + 1}_{hour:%Y%m%d_%H%M%S}"
    events = []
    for i in range(per_video):
        title, description, threat = event_text(rng)
        start = i * (3600.0 / per_video) + rng.random() * 30
        events.append(EventRow(i, start, start + 5 + rng.random() * 20, title, description, threat, 0.8,
                               round(rng.random() * 4, 3), "vlm", [f"{name}/thumbs/event{i:03d}_0.jpg"]))  # fmt: skip
    start = VideoStart(hour.timestamp(), "filename")
    return VideoRow(name, f"/nvr/{name}.mp4", f"cam{v % 8 + 1}", start, 3600.0, True, events)


def _report(folder: Path, video: Any, rng: random.Random) -> None:
    """The report.json the video and event pages read for ``video`` (boxes, stretches, a dense curve)."""
    events = [{"id": e.number, "start_s": e.start_s, "end_s": e.end_s, "title": e.title, "description": e.description,
               "threat_level": e.threat, "confidence": 0.8, "source": "vlm", "anomaly_score": e.anomaly,
               "keyframes": [{"t_s": e.start_s + k, "image": f"thumbs/event{e.number:03d}_{k}.jpg",
                              "boxes": [{"label": "person", "xyxy": [100.0, 200.0, 300.0, 700.0]}]} for k in range(4)]}
              for e in video.events]  # fmt: skip
    curve = [[t / 5, round(rng.random() * 2, 3)] for t in range(5 * 3600)]
    report = {"schema_version": 1, "complete": True, "events": events,
              "segments": [{"id": i, "start_s": e.start_s, "end_s": e.end_s, "activity": 0.3}
                           for i, e in enumerate(video.events)],
              "anomaly": {"camera": video.camera, "threshold": 1.5, "curve": curve},
              "video": {"path": video.path, "duration_s": 3600.0, "fps": 25.0, "width": 1920, "height": 1080,
                        "frame_count": 90000, "codec": "h264"}}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report))


def build(out: Path, videos: int, per_video: int, dim: int, embedder_name: str) -> list[str]:
    """The index of a synthetic archive in ``out``; returns the folders whose pages are timed."""
    from veille.archive.indexer import index_path
    from veille.archive.store import Store

    rng = random.Random(0)
    timed = set(random.Random(1).sample(range(videos), min(TIMED_VIDEOS, videos)))
    names = []
    started = time.perf_counter()
    with Store(index_path(out)) as store:
        with store.transaction():
            store.set_meta("embedder", embedder_name)
            store.set_meta("dim", str(dim))
        for first in range(0, videos, 100):
            with store.transaction():
                for v in range(first, min(first + 100, videos)):
                    video = _video_row(v, per_video, rng)
                    store.replace_video(video, (0, 0))
                    if v in timed:
                        _report(out / video.folder, video, rng)
                        names.append(video.folder)
        pending = store.pending()
        vectors = np.random.default_rng(0).standard_normal((len(pending), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with store.transaction():
            store.put_vectors([i for i, _ in pending], vectors)
        print(f"built {store.count('videos')} videos, {store.count('events')} events in"
              f" {time.perf_counter() - started:.0f} s: {index_path(out)}")  # fmt: skip
    return names


def timed(client: Any, urls: list[str]) -> tuple[float, float, float]:
    """The first request, then the median and p95 of all (ms)."""
    def one(url: str) -> float:
        started = time.perf_counter()
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        return (time.perf_counter() - started) * 1000

    times = [one(url) for url in urls]
    ordered = sorted(times)
    return times[0], statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--per-video", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="Requests per page kind.")
    parser.add_argument("--folder", type=Path, help="Build here (default: a temporary folder).")
    parser.add_argument("--reuse", action="store_true", help="Time the archive --folder already holds.")
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from veille.archive.embedder import load_embedder
    from veille.archive.indexer import index_path
    from veille.archive.store import Store
    from veille.web.app import create_app
    from veille.web.archive import WebArchive

    embedder = load_embedder()
    out = args.folder or Path(tempfile.mkdtemp(prefix="veille-serve-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.reuse and (out / "archive.sqlite").is_file():
        names = sorted(p.parent.name for p in out.glob("*/report.json"))
    else:
        names = build(out, args.videos, args.per_video, embedder.dim, embedder.name)
    archive = WebArchive(out, Store(index_path(out), shared=True), embedder)
    client = TestClient(create_app(archive, refresh_s=None))
    started = time.perf_counter()
    archive.searcher()  # `veille serve` does this in the background as it starts
    print(f"index read into memory for the search (once, as the server starts): {time.perf_counter() - started:.1f} s")
    rng = random.Random(2)
    n = args.requests
    pages = {
        "home": ["/"] * n,
        "home, camera + threat filter": [f"/?camera=cam{rng.randint(1, 8)}&threat=1" for _ in range(n)],
        "home, page 10": ["/?page=10"] * n,
        "video, first view (report read)": [f"/video/{name}" for name in names],
        "video, again": [f"/video/{rng.choice(names)}" for _ in range(n)],
        "event": [f"/video/{rng.choice(names)}/event/{rng.randrange(args.per_video)}" for _ in range(n)],
        "search": [f"/search?q={rng.choice(QUERIES).replace(' ', '+')}" for _ in range(n)],
        "ask (no reasoner)": [f"/ask?q={rng.choice(QUERIES).replace(' ', '+')}" for _ in range(n)],
    }
    print(f"server time per page, {archive.store.count('events')} events, {n} requests each (first, median, p95):")
    for name, urls in pages.items():
        first, median, p95 = timed(client, urls)
        print(f"  {name:40s} first {first:7.1f} ms   median {median:6.1f} ms   p95 {p95:6.1f} ms")
    archive.store.close()


if __name__ == "__main__":
    main()
