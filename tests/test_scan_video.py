"""The whole scan on synthetic and real clips; motion detector; segments, chunks, keyframes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from veille.settings import ScanSettings
from veille.types import Box, MotionSample, Segment, VideoInfo
from veille.video.chunks import plan_chunks
from veille.video.motion import MotionDetector
from veille.video.packets import PacketBaseline, packet_windows
from veille.video.probe import probe
from veille.video.scan import scan_video
from veille.video.segments import ActiveStretch, heartbeat_times, pick_keyframe_times, segment_samples, split_chunks


def _covered(truth: list[tuple[float, float]], segments: list[Segment]) -> float:
    total = sum(b - a for a, b in truth)
    inside = sum(max(0.0, min(b, s.end_s) - max(a, s.start_s)) for a, b in truth for s in segments)
    return inside / total


@pytest.mark.parametrize(
    ("encoding", "mode"),
    [("vbr", "packets"), ("ipbb", "packets"), ("hevc", "packets"), ("cbr", "pixels"), ("mjpeg", "pixels")],
)
def test_scan_finds_walker_and_picks_mode(clips, encoding: str, mode: str) -> None:
    path, truth = clips[encoding]
    info = probe(path)
    result = scan_video(info, ScanSettings())
    assert [s.mode for s in result.stretches] == [mode], result.stretches
    assert _covered(truth, result.segments) >= 0.8, (truth, result.segments)
    reported = sum(s.duration_s for s in result.segments)
    assert reported <= 4 + 2 * 1.0 + 2, result.segments  # walker + padding + slack
    if mode == "packets":
        assert result.frames_decoded < 0.4 * info.frame_count  # only candidates were decoded
        assert result.packets_scanned == info.frame_count
    else:
        assert result.decoded_s >= 0.95 * info.duration_s  # decoded whole (non-reference B-frames skipped)
    assert result.warnings == []  # a clean file
    chunk = result.chunks[0]
    assert len(chunk.keyframes) == 4 and chunk.keyframes[0].image.shape == (180, 320, 3)
    assert any(k.boxes for k in chunk.keyframes), "keyframes at motion peaks carry their motion boxes"
    for box in (b for k in chunk.keyframes for b in k.boxes):  # full-resolution pixels, on the walker's rows
        x0, y0, x1, y1 = box.xyxy
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 180 and y1 > 108 and y0 < 153, box


def test_a_mask_over_the_whole_frame_hides_the_walker(clips) -> None:
    path, _ = clips["vbr"]
    everything = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
    assert scan_video(probe(path), ScanSettings(masks=everything), load_keyframes=False).segments == []


def test_lazy_keyframes_match_eager(clips) -> None:
    info = probe(clips["vbr"][0])
    eager = scan_video(info, ScanSettings())
    lazy = scan_video(info, ScanSettings(), load_keyframes=False)
    assert lazy.chunks == [] and len(lazy.chunk_plans) == len(eager.chunks)
    for a, b in zip(lazy.iter_chunks(), eager.chunks, strict=True):
        assert [k.t_s for k in a.keyframes] == [k.t_s for k in b.keyframes]
        assert all(np.array_equal(x.image, y.image) for x, y in zip(a.keyframes, b.keyframes, strict=True))


def test_forced_pixel_mode_agrees(clips) -> None:
    path, truth = clips["vbr"]
    result = scan_video(probe(path), ScanSettings(mode="pixels"))
    assert result.stretches[0].mode == "pixels" and result.packets_scanned == 0
    assert _covered(truth, result.segments) >= 0.8


def _frames(n: int, h: int = 90, w: int = 160) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.clip(100 + rng.normal(0, 2, (h, w)), 0, 255).astype(np.uint8) for _ in range(n)]


def test_lighting_change_recalibrates_instead_of_motion() -> None:
    detector = MotionDetector((160, 90))
    frames = _frames(12)
    samples = [detector.update(f, i / 10) for i, f in enumerate(frames[:5])]
    bright = [np.clip(f.astype(int) + 60, 0, 255).astype(np.uint8) for f in frames[5:]]
    samples += [detector.update(f, (5 + i) / 10) for i, f in enumerate(bright)]
    assert samples[5].lighting_change and samples[5].score == 0.0
    assert all(s.score == 0.0 for s in samples)
    moved = bright[-1].copy()
    moved[40:70, 20:40] = 250
    sample = detector.update(moved, 1.3)
    assert sample.score > 0.02 and not sample.lighting_change and sample.boxes


def test_mask_hides_motion_inside_polygon() -> None:
    overlay = [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.3), (0.0, 0.3)]]  # e.g. a timestamp overlay
    masked, plain = MotionDetector((160, 90), masks=overlay), MotionDetector((160, 90))
    base = _frames(1)[0]
    changed = base.copy()
    changed[5:20, 10:60] = 255  # inside the overlay
    for detector in (masked, plain):
        detector.update(base, 0.0)
    assert masked.update(changed, 0.1).score == 0.0
    assert plain.update(changed, 0.1).score > 0.02


def _samples(active: list[tuple[float, float]], until: float, fps: float = 10) -> list[MotionSample]:
    times = np.arange(0, until, 1 / fps)
    return [MotionSample(t, 0.05 if any(a <= t < b for a, b in active) else 0.0) for t in times]


def test_segments_hysteresis_min_length_gap_merge_padding() -> None:
    cfg = ScanSettings(min_segment_s=0.5, merge_gap_s=2.0, padding_s=1.0)
    samples = _samples([(5, 8), (9, 10), (20, 20.2), (30, 35)], 50)
    segments = [s.segment for s in segment_samples(samples, cfg, duration_s=50)]
    spans = [(round(s.start_s, 1), round(s.end_s, 1)) for s in segments]
    assert spans == [(4.0, 10.9), (29.0, 35.9)]  # gap merged, blip dropped, padded


def test_chunks_keyframes_and_heartbeat() -> None:
    assert len(split_chunks(Segment(0, 0.0, 45.0, 1.0), 20.0)) == 3
    samples = [MotionSample(t / 10, float(np.sin(t / 10) ** 2)) for t in range(200)]
    picks = pick_keyframe_times(samples, 0.0, 20.0, 4)
    assert len(picks) == 4 and all(i * 5 <= t < (i + 1) * 5 for i, (t, _) in enumerate(picks))
    assert heartbeat_times([Segment(0, 100.0, 200.0, 1.0)], 1800.0, 600.0) == [800.0, 1400.0]


def test_keyframe_picks_keep_apart_across_a_bin_edge() -> None:
    # one peak just before 5 s and its echo just after: the second bin must look further on
    scores = {4.9: 0.9, 5.0: 0.8, 5.1: 0.85, 8.0: 0.3, 12.0: 0.2, 17.0: 0.2}
    samples = [MotionSample(t, scores.get(t, 0.01)) for t in np.round(np.arange(0, 20, 0.1), 1)]
    times = [t for t, _ in pick_keyframe_times(samples, 0.0, 20.0, 4)]
    assert times[0] == 4.9 and times[1] == 8.0
    assert min(np.diff(times)) >= 2.5


def test_keyframe_picks_prefer_a_near_peak_frame_just_after_a_keyframe(tmp_path: Path) -> None:
    """Within a bin, a frame almost as strong as the peak but just after a keyframe is picked (it is
    cheap to decode again); a weak frame just after a keyframe is not, nor is the choice made without
    keyframes. Checked through the chunk planner, which hands the scan's keyframe times on."""
    scores = {2.1: 0.8, 3.9: 1.0, 4.05: 0.5, 7.0: 0.6, 8.1: 0.3}
    samples = [MotionSample(t, scores.get(t, 0.01)) for t in np.round(np.arange(0, 10, 0.05), 2)]
    keys = [0.0, 2.0, 4.0, 6.0, 8.0]
    assert [t for t, _ in pick_keyframe_times(samples, 0.0, 10.0, 2, keys)] == [2.1, 7.0]
    assert [t for t, _ in pick_keyframe_times(samples, 0.0, 10.0, 2)] == [3.9, 7.0]  # the peak itself
    info = VideoInfo(
        path=tmp_path / "v.mp4", duration_s=10.0, fps=10.0, width=320, height=180, frame_count=100, codec="h264"
    )
    stretch = ActiveStretch(Segment(0, 0.0, 10.0, 1.0), samples)
    cfg = ScanSettings(keyframes_per_chunk=2, heartbeat_min=0)
    (plan,) = plan_chunks(info, [stretch], cfg, keys)
    assert [t for t, _ in plan.picks] == [2.1, 7.0]


def _data_dir() -> Path | None:
    value = os.environ.get("VEILLE_DATA_DIR")
    return Path(value) if value and Path(value).is_dir() else None


def _box_cover(boxes: tuple[Box, ...], xywh: list[int], width: int, height: int) -> tuple[float, float]:
    """Share of the ``xywh`` box inside the union of ``boxes``, and share of the frame the union covers."""
    union = np.zeros((height, width), bool)
    for box in boxes:
        x0, y0, x1, y1 = (round(v) for v in box.xyxy)
        union[y0:y1, x0:x1] = True
    x, y, w, h = xywh[:4]
    return float(union[y : y + h, x : x + w].mean()), float(union.mean())


@pytest.mark.data
@pytest.mark.skipif(_data_dir() is None, reason="real footage: set VEILLE_DATA_DIR to the data folder")
def test_real_ucsd_clips_cover_the_anomalies_and_box_them() -> None:
    """UCSD Ped2: pedestrians walk in every frame, so the whole clip is one active stretch; each labelled
    anomaly (a bike, a cart) lies inside it, and the motion boxes of the keyframes picked during an
    anomaly cover the anomalous object far more than they cover the frame."""
    folder = _data_dir() / "ucsd_ped2"
    truth = json.loads((folder / "ground_truth.json").read_text())["clips"]
    assert truth
    on_object, on_frame = [], []
    for clip in truth.values():
        info = probe(folder / clip["video"])
        assert info.frame_count == clip["num_frames"]
        result = scan_video(info, ScanSettings(heartbeat_min=0), load_keyframes=False)
        assert _covered([(0.0, info.duration_s)], result.segments) >= 0.95
        fps = clip["fps"]
        anomalies = [((a - 1) / fps, b / fps) for a, b in clip["anomalous_ranges_1based_inclusive"]]
        assert _covered(anomalies, result.segments) >= 0.95, (clip["clip"], anomalies, result.segments)
        labelled = json.loads((folder / clip["anomaly_boxes"]).read_text())["frames"]
        by_frame = {f["frame"]: f["boxes_xywh_area"] for f in labelled}  # 1-based frame numbers
        for plan in result.chunk_plans:
            for (t, _), boxes in zip(plan.picks, plan.pick_boxes, strict=True):
                for xywh in by_frame[round(t * fps) + 1]:
                    cover, share = _box_cover(boxes, xywh, info.width, info.height)
                    on_object.append(cover)
                    on_frame.append(share)
    assert len(on_object) >= 10, "too few keyframes fell on labelled anomalies to judge the boxes"
    assert np.mean(on_object) >= 0.7 and np.mean(on_frame) <= 0.3, (np.mean(on_object), np.mean(on_frame))


def test_keyframe_check_catches_what_packet_sizes_miss(sample_clip) -> None:
    """The sample's flat, untextured walkers barely change packet sizes: packets alone find nothing,
    the decoded-keyframe safety net finds the walk."""
    video, truth = sample_clip
    info = probe(video)
    blind = scan_video(info, ScanSettings(keyframe_check_s=0), load_keyframes=False)
    netted = scan_video(info, ScanSettings(), load_keyframes=False)
    first = [tuple(truth["active_intervals"][0])]
    assert _covered(first, blind.segments) < 0.5
    assert _covered(first, netted.segments) >= 0.9


def test_saturated_packet_signal_falls_back_to_decoding(clips) -> None:
    """When most frames of a window look hot, the window is decoded whole (one span, no seeks)."""
    path, truth = clips["vbr"]
    result = scan_video(probe(path), ScanSettings(packet_saturation=0.01), load_keyframes=False)
    assert [s.mode for s in result.stretches] == ["pixels"]
    assert "swing" in result.stretches[0].reason
    assert _covered(truth, result.segments) >= 0.8


def test_decoding_follows_the_motion(follow_clip) -> None:
    """Packet sizes see the textured walker but not the flat figure that moves on after it: the
    candidate ends early and the pixel pass decodes on for as long as it sees motion."""
    path, truth = follow_clip
    (start, end), info = truth[0], probe(path)
    baseline = PacketBaseline()
    hot = np.concatenate([w.times[baseline.hot(w)] for w in packet_windows(path, 30.0)])
    assert hot.size and hot.max() < start + 6.0 < end - 3.0, hot  # the packets alone miss the last 3+ s
    cfg = ScanSettings(keyframe_check_s=0)  # no safety net: only following the motion can find the rest
    result = scan_video(info, cfg, load_keyframes=False)
    assert len(result.segments) == 1, result.segments
    segment = result.segments[0]
    assert segment.start_s <= start and segment.end_s >= end, (truth, segment)
    assert segment.end_s <= end + cfg.follow_s + cfg.padding_s, segment  # and stops once the motion does


def test_saturation_tells_a_long_activity_from_scattered_noise() -> None:
    from veille.video.scan import _saturated

    run = np.zeros(300, bool)
    run[50:250] = True  # someone crossing for 20 s of a 30-s window: clean edges, packet mode stays
    run[60::20] = False  # keyframes are never hot
    assert not _saturated(run, 0.35)
    scattered = np.random.default_rng(0).random(300) < 0.5  # noise: hot frames here and there
    assert _saturated(scattered, 0.35)
    assert _saturated(np.r_[np.ones(250, bool), np.zeros(50, bool)], 0.35)  # nearly all hot: decode whole
    assert not _saturated(np.zeros(300, bool), 0.35)


def test_rgb_conversion_matches_swscale(clips) -> None:
    import av

    from veille.video.decode import to_rgb

    with av.open(str(clips["vbr"][0])) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuv420p"
    ours, reference = to_rgb(frame), frame.to_ndarray(format="rgb24")
    assert ours.shape == reference.shape and np.abs(ours.astype(int) - reference).max() <= 3


def test_mjpeg_is_decoded_small_for_motion(tmp_path: Path) -> None:
    import av

    from veille.video.decode import fast_decoding

    path = tmp_path / "hd.avi"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuvj420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((720, 1280, 3), 40 * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        fast_decoding(video, "mjpeg", 160)
        sizes = {(f.width, f.height) for f in container.decode(video)}
    assert sizes == {(320, 180)}  # 1/4 scale by the JPEG decoder: still >= 160 px high
