"""The scan as a stream: its state saved now and then, and a scan resumed from any saved state ends
exactly as the uninterrupted one (same plans, segments, counters), in every scan mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veille.sample import make_sample
from veille.settings import ScanSettings
from veille.video.checkpoint import ResumeError
from veille.video.chunks import plan_state
from veille.video.probe import probe
from veille.video.scan import ScanStream, scan_video
from veille.video.synth import Stretch, scene, walker, write_video

FPS = 10


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """70 s, 320x180: three walkers between quiet stretches (several packet windows), in three encodings;
    and 3 minutes of ``veille sample``."""
    folder = tmp_path_factory.mktemp("resume-clips")
    background = scene(320, 180)
    out = {}
    for encoding in ("ipbb", "cbr", "mjpeg"):
        path = folder / f"{encoding}.{'avi' if encoding == 'mjpeg' else 'mp4'}"
        stretches = [Stretch(150), Stretch(40, walker(background, 40), True)] * 3 + [Stretch(130)]
        write_video(path, stretches, background, fps=FPS, encoding=encoding, bitrate=400_000)
        out[encoding] = path
    out["sample"] = folder / "sample.mp4"  # busier: someone crosses every 20 s
    make_sample(out["sample"], seconds=180, width=320, height=180, fps=FPS)
    return out


def _saved_states(path: Path, cfg: ScanSettings) -> tuple[list[tuple[dict, list[dict]]], list[dict], dict]:
    """Every state an uninterrupted scan saves (through JSON, as the work cache keeps them), its plans and facts."""
    saved: list[tuple[dict, list[dict]]] = []

    def checkpoint(state: dict, plans: list) -> None:
        saved.append((json.loads(json.dumps(state)), [plan_state(p) for p in plans]))

    stream = ScanStream(probe(path), cfg, checkpoint=checkpoint, every_s=0.0)
    plans = [plan_state(p) for p in stream]
    return saved, plans, stream.result.facts()


def _some(states: list[dict], most: int = 12) -> list[dict]:
    """States to resume from: every one saved between two spans while the decoder could still decode
    on (the delicate case), and others spread over the scan, ``most`` in all."""
    between = [s for s in states if s["pixels"]["live"] and s["pixels"]["span"] is None]
    others = [s for s in states if s not in between]
    room = max(0, most - len(between))
    return between + others[:: max(1, -(-len(others) // room))] if room else between


def _inner(state: dict) -> dict:
    """A state without its timing (the only thing allowed to differ)."""
    state = json.loads(json.dumps(state))
    del state["result"]["scan_s"]
    return state


@pytest.mark.parametrize(
    ("encoding", "mode"),
    [("ipbb", "auto"), ("ipbb", "pixels"), ("cbr", "auto"), ("mjpeg", "auto"), ("sample", "auto")],
)
def test_resumed_scan_equals_uninterrupted_scan(long_clips: dict[str, Path], encoding: str, mode: str) -> None:
    path = long_clips[encoding]
    cfg = ScanSettings(mode=mode, heartbeat_min=0.2)  # heartbeats in the quiet stretches too
    saved, full_plans, full = _saved_states(path, cfg)
    assert full["complete"] and len(full["segments"]) >= 3 and any(p["heartbeat"] for p in full_plans)
    middle = [state for state, _ in saved if not state["result"]["complete"]]
    final = saved[-1][0]
    assert len(middle) >= 4, "the scan saves its state as it goes"
    assert any(s["pixels"]["span"] for s in middle), "some states are saved in the middle of a decoded span"
    if mode == "auto" and encoding == "ipbb":
        assert any(s["packets"]["point"][1] for s in middle), "and some with keyframes the check still holds"
    for state in _some(middle):
        stored = [p for _, plans in saved for p in plans if p["id"] < state["next_id"]]
        resumed = ScanStream(probe(path), cfg, resume=state)
        resumed.open()  # as the pipeline does, to know at once whether the file lets it resume
        rest = [plan_state(p) for p in resumed]
        facts = resumed.result.facts()
        where = state["result"]["scanned_to_s"]
        assert stored + rest == full_plans, f"resumed at {where} s"
        assert {k: v for k, v in facts.items() if k != "scan_s"} == {k: v for k, v in full.items() if k != "scan_s"}
        assert resumed.result.resumed_at_s == where
        assert _inner(resumed.state()) == _inner(final), "every stage ends in the same state"


@pytest.mark.parametrize("counter", ["packets_scanned", "frames_decoded"])
def test_resumed_scan_reads_only_what_is_left(long_clips: dict[str, Path], counter: str) -> None:
    path = long_clips["ipbb"]
    saved, _, full = _saved_states(path, ScanSettings())
    total = full[counter]
    state = next(s for s, _ in saved if 0 < s["result"][counter] < total)
    resumed = ScanStream(probe(path), ScanSettings(), resume=state)
    list(resumed)
    assert resumed.result.packets_scanned == full["packets_scanned"], "no packet read twice, none skipped"
    assert resumed.result.frames_decoded == full["frames_decoded"], "no frame analysed twice, none skipped"


def test_scan_video_is_the_stream_read_to_the_end(long_clips: dict[str, Path]) -> None:
    path = long_clips["ipbb"]
    result = scan_video(probe(path), ScanSettings(), load_keyframes=False)
    stream = ScanStream(probe(path), ScanSettings())
    assert [plan_state(p) for p in stream] == [plan_state(p) for p in result.chunk_plans]
    assert stream.result.segments == result.segments and result.complete and result.scanned_to_s == 70.0


def test_state_of_another_file_cannot_be_resumed(long_clips: dict[str, Path]) -> None:
    saved, _, _ = _saved_states(long_clips["ipbb"], ScanSettings())
    state = next(s for s, _ in saved if s["packets"]["point"])
    state["packets"]["point"][0] += 10**9  # a packet this file does not have
    with pytest.raises(ResumeError):
        ScanStream(probe(long_clips["ipbb"]), ScanSettings(), resume=state).open()


def test_flush_after_an_interruption_gives_the_activity_in_progress(long_clips: dict[str, Path]) -> None:
    path = long_clips["ipbb"]
    full = scan_video(probe(path), ScanSettings(), load_keyframes=False)

    def stop_inside_a_segment(state: dict, plans: list) -> None:
        current = state["segmenter"]["current"]  # [start, last active, ...]
        if current is not None and current[1] - current[0] > 2.0:
            raise KeyboardInterrupt

    stream = ScanStream(probe(path), ScanSettings(), checkpoint=stop_inside_a_segment, every_s=0.0)
    with pytest.raises(KeyboardInterrupt):
        list(stream)
    assert not stream.save_now(), "a state caught half-way through a stage is never saved"
    late = stream.flush()
    assert late, "the segment in progress is planned"
    segments = stream.result.segments
    assert segments[:-1] == full.segments[: len(segments) - 1]
    assert segments[-1].start_s == full.segments[len(segments) - 1].start_s
    assert late[-1].segment_id == segments[-1].id
    assert 0 < stream.reached_s() < probe(path).duration_s


def test_a_span_behind_the_decoder_still_decodes_on_one_frame(long_clips: dict[str, Path]) -> None:
    """Decoding on into a span that ends before where decoding already is reads one frame, as it always
    did: that frame's sample may still extend a segment."""
    from veille.video.packets import Span
    from veille.video.pixelpass import PixelPass
    from veille.video.scan import ScanResult

    info = probe(long_clips["ipbb"])
    result = ScanResult(info=info)
    pixels = PixelPass(info, ScanSettings(), result)
    pixels.open()
    try:
        first = list(pixels.decode(Span(10.0, 12.0, "candidate")))
        decoded, last = result.frames_decoded, pixels.last_t
        behind = list(pixels.decode(Span(last - 0.5, last - 0.2, "keyframe change")))
    finally:
        pixels.close()
    assert first and len(behind) == 1 and result.frames_decoded == decoded + 1 and pixels.last_t > last


def _turned_clip(path: Path, turn: int) -> Path:
    """12 s of a block moving along the bottom of an upright 120x160 picture, stored turned ``turn``
    degrees with a display matrix (as a phone records), a keyframe every second."""
    import av
    import numpy as np

    def picture(i: int) -> np.ndarray:
        img = np.full((160, 120, 3), 40, np.uint8)
        img[4:24, 4:24] = 250
        x = (i * 3) % 90
        img[100:130, x : x + 30] = 200
        return np.ascontiguousarray(np.rot90(img, turn // 90))

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.height, stream.width = picture(0).shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast", "g": str(FPS), "bf": "0"}
        stream.set_display_rotation(-turn)
        for i in range(12 * FPS):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture(i), format="rgb24")))
        out.mux(stream.encode())
    return path


def _keyframe_changes(path: Path, stop_after_s: float | None = None, state: dict | None = None) -> tuple[list, dict]:
    """The keyframe check's changes over ``path`` (from ``state`` on when given); with ``stop_after_s``,
    stop after the keyframe at that time and give the check's state (through JSON) too."""
    import av

    from veille.video.keycheck import KeyframeCheck

    check = KeyframeCheck(every_s=1.0, target_h=80)
    if state is not None:
        check.restore(state)
    changes: list = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        check.attach(stream)
        tb = float(stream.time_base)
        held = set(state["held"]) if state else set()
        for packet in container.demux(stream):
            if packet.pts is None or not packet.is_keyframe:
                continue
            t = float(packet.pts * tb)
            if packet.pts in held:
                check.refeed(packet)
            elif state is None or t > state["last_t"]:
                check.feed(t, packet)
            changes += check.pop_changes()
            if stop_after_s is not None and t >= stop_after_s:
                return changes, json.loads(json.dumps(check.state()))
        check.finish()
    return changes + check.pop_changes(), check.state()


@pytest.mark.parametrize("turn", [0, 90])
def test_keyframe_check_resumes_upright_with_its_background(tmp_path: Path, turn: int) -> None:
    """A resumed keyframe check compares the next keyframe with the restored (upright) background: the
    change across the interruption is found, as without one."""
    path = _turned_clip(tmp_path / f"turned{turn}.mp4", turn)
    whole, _ = _keyframe_changes(path)
    assert len(whole) >= 8, "the moving block changes every keyframe compared"
    before, state = _keyframe_changes(path, stop_after_s=5.0)
    assert state["background"] is not None
    after, _ = _keyframe_changes(path, state=state)
    assert before + after == whole
