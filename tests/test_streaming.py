"""The pipeline streams: chunks go through the describer in windows of its batch size and are kept as
thumbnails as soon as they are done, so full-resolution keyframes never pile up."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.scan_fixtures import clips_fixture  # noqa: F401 (registers the `clips` fixture)
from tests.test_analysis import INFO, DictMemo, fake_session
from veille.analysis.engine import AnalysisOptions, run_models
from veille.backends.fake import FakeBackend
from veille.models.session import ModelSession
from veille.progress import NullProgress
from veille.report.thumbs import Thumbnails, prune_thumbnails
from veille.settings import Settings
from veille.types import Box, Chunk, Keyframe
from veille.video.chunks import load_chunk
from veille.video.probe import probe
from veille.video.scan import scan_video

FRAMES = 2


class Tracked:
    """Chunks made on demand, each keyframe image watched through a weak reference."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.alive_at_make: list[int] = []  # images still alive when the next chunk is made

    def chunks(self, n: int) -> Iterator[Chunk]:
        for cid in range(n):
            self.alive_at_make.append(self.alive())
            yield self._make(cid)

    def _make(self, cid: int) -> Chunk:
        frames = []
        for i in range(FRAMES):
            image = np.full((24, 32, 3), cid, np.uint8)
            self.refs.append(weakref.ref(image))
            frames.append(Keyframe(cid * 10.0 + i, image, score=0.1 * (i + 1)))
        box = (Box("motion", (2, 2, 10, 10)),)
        return Chunk(cid, 0, cid * 10.0, cid * 10.0 + 10, tuple(frames), box, 1, 0.05)

    def alive(self) -> int:
        gc.collect()
        return sum(ref() is not None for ref in self.refs)


class DroppingStore:
    """A keyframe store that drops images (as the pipeline's thumbnails do) and counts what it kept."""

    def __init__(self) -> None:
        self.kept: list[Chunk] = []

    def keep(self, chunk: Chunk) -> Chunk:
        light = Chunk(
            chunk.id,
            chunk.segment_id,
            chunk.start_s,
            chunk.end_s,
            tuple(Keyframe(k.t_s, None, k.score, k.boxes, thumb=f"t{chunk.id}") for k in chunk.keyframes),
            chunk.motion_boxes,
            chunk.max_regions,
            chunk.peak_score,
        )
        self.kept.append(light)
        return light

    def image(self, chunk: Chunk, index: int) -> np.ndarray:
        return np.zeros((24, 32, 3), np.uint8)

    def redraw(self, chunk: Chunk, index: int, keyframe: Keyframe, image: np.ndarray) -> Keyframe:
        return replace(keyframe, image=None, thumb=f"t{chunk.id}-named")


def test_describer_sees_windows_and_images_are_dropped_as_chunks_are_done(tmp_path: Path) -> None:
    tracked = Tracked()
    alive_at_calls: list[int] = []

    def answer(prompt: str) -> str:
        alive_at_calls.append(tracked.alive())
        return "A person walks past the gate."

    session = fake_session(tmp_path, describer=FakeBackend("vlm", default=answer), grounder=FakeBackend("kosmos"))
    store = DroppingStore()
    outcome = run_models(
        INFO,
        tracked.chunks(12),
        Settings(),
        session,
        progress=NullProgress(),
        memo=DictMemo(),
        options=AnalysisOptions(describe_batch=3, storyboard_batch=3),
        keyframes=store,
    )
    assert outcome.vlm_calls == 4 and outcome.frames_to_vlm == 12 * FRAMES
    assert max(alive_at_calls) <= 3 * FRAMES, "only the window being described holds its images"
    assert tracked.alive() == 0
    assert [c.id for c in store.kept] == list(range(12))
    assert all(k.thumb and k.image is None for e in outcome.events for k in e.keyframes)


def test_one_chunk_at_a_time_when_the_batch_is_one(tmp_path: Path) -> None:
    tracked = Tracked()
    session = fake_session(tmp_path, describer=FakeBackend("vlm", default="A person walks past the gate."))
    options = AnalysisOptions(describe_batch=1, storyboard_batch=1)
    memo = DictMemo()
    for _ in range(2):  # described, then every description from the work cache
        outcome = run_models(
            INFO, tracked.chunks(5), Settings(), session, progress=NullProgress(), memo=memo, options=options,
            keyframes=DroppingStore(),
        )
        assert len(outcome.events) == 1
    assert max(tracked.alive_at_make) == 0, "a chunk's images were still held when the next was made"


def test_no_describer_is_loaded_without_a_chunk_to_describe(tmp_path: Path) -> None:
    loads: list[str] = []

    def factory(role: str, *args: Any, **kwargs: Any) -> FakeBackend:
        loads.append(role)
        return FakeBackend(role)

    settings = Settings(profile="full", device="cpu", vlm=str(tmp_path), llm="none", grounder="none")
    heartbeat = Chunk(0, -1, 600.0, 601.0, (Keyframe(600.0, np.zeros((2, 2, 3), np.uint8)),), heartbeat=True)
    with ModelSession(settings, factory=factory) as session:
        outcome = run_models(INFO, iter([heartbeat]), Settings(), session, progress=NullProgress())
    assert outcome.vlm_calls == 0 and outcome.events == []
    assert loads == [], "a model was loaded for nothing"


def test_thumbnails_keep_a_chunk_and_give_back_its_exact_image(clips, tmp_path: Path) -> None:
    path = clips["vbr"][0]
    info = probe(path)
    scan = scan_video(info, Settings().scan, load_keyframes=False)
    plan = scan.chunk_plans[0]
    chunk = load_chunk(path, plan, scan.keyframe_times)
    store = Thumbnails(tmp_path, path, scan.keyframe_times)
    kept = store.keep(chunk)
    assert all(k.image is None and (tmp_path / k.thumb).is_file() for k in kept.keyframes)
    assert [k.t_s for k in kept.keyframes] == [k.t_s for k in chunk.keyframes] and store.chunks == [kept]
    for index, frame in enumerate(chunk.keyframes):  # decoded again for a later stage, pixel for pixel
        assert np.array_equal(store.image(kept, index), frame.image)
    named = store.redraw(kept, 0, kept.keyframes[0], chunk.keyframes[0].image)
    assert named.thumb != kept.keyframes[0].thumb and (tmp_path / named.thumb).is_file()


def test_unshown_thumbnails_are_removed(tmp_path: Path) -> None:
    from tests.report_samples import hostile_report

    report = hostile_report(tmp_path)
    stray = tmp_path / "thumbs" / "chunk0099_0_00001.000.jpg"
    stray.write_bytes(b"x")
    prune_thumbnails(tmp_path, report)
    assert not stray.exists()
    assert all((tmp_path / k.image).is_file() for e in report.events for k in e.keyframes)


def test_analyze_keeps_each_chunk_as_thumbnails_before_decoding_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pipeline (`analyze`, motion profile): when a chunk's keyframes are decoded, no earlier
    chunk still holds its images."""
    import veille.flow as flow
    from veille.pipeline import analyze
    from veille.sample import make_sample

    video = tmp_path / "street.mp4"
    make_sample(video, seconds=70, width=320, height=180, fps=10)
    refs: list[weakref.ref] = []
    alive_before_load: list[int] = []
    real_load = flow.load_chunk

    def tracked_load(*args: Any, **kwargs: Any) -> Chunk:
        gc.collect()
        alive_before_load.append(sum(ref() is not None for ref in refs))
        chunk = real_load(*args, **kwargs)
        refs.extend(weakref.ref(k.image) for k in chunk.keyframes)
        return chunk

    monkeypatch.setattr(flow, "load_chunk", tracked_load)
    result = analyze(video, Settings(profile="motion", out_dir=tmp_path / "out"))
    assert len(alive_before_load) >= 3 and len(result.report.events) == len(alive_before_load)
    assert max(alive_before_load) == 0, "a chunk's images were still held when the next was decoded"
