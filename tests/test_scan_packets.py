"""Packet pass: slice-header frame types, per-class baseline, informativeness test, candidates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from veille.video.bitstream import CLASS_B, CLASS_I, CLASS_P, _Bits, h264_class, iter_nals
from veille.video.packets import HotGrouper, PacketBaseline, PacketWindow, Span, merge_spans, packet_windows


def _window(sizes: list[int], classes: list[int], fps: float = 10.0, t0: float = 0.0) -> PacketWindow:
    times = t0 + np.arange(len(sizes)) / fps
    return PacketWindow(t0, t0 + len(sizes) / fps, times, np.array(sizes, np.int64), np.array(classes, np.int8))


def test_exp_golomb() -> None:
    bits = _Bits(bytes([0b10100110, 0b01000000]))  # ue: 1 → 0, 010 → 1, 011 → 2, 00100 → 3
    assert [bits.ue(), bits.ue(), bits.ue(), bits.ue()] == [0, 1, 2, 3]


def test_annex_b_and_length_prefixed_nals() -> None:
    nal_a, nal_b = b"\x67\x42\x80", b"\x41\x9a\x10"  # a NAL never ends in a zero byte
    assert list(iter_nals(b"\x00\x00\x00\x01" + nal_a + b"\x00\x00\x01" + nal_b, 0)) == [nal_a, nal_b]
    prefixed = len(nal_a).to_bytes(4, "big") + nal_a + len(nal_b).to_bytes(4, "big") + nal_b
    assert list(iter_nals(prefixed, 4)) == [nal_a, nal_b]
    # P slice: first_mb_in_slice=0 ('1'), slice_type=5 → P ('00110')
    assert h264_class(b"\x00\x00\x01\x41" + bytes([0b10011000]), 0) == CLASS_P
    assert h264_class(b"\x00\x00\x01\x65\x88", 0) == CLASS_I


@pytest.mark.parametrize("encoding", ["ipbb", "hevc"])
def test_frame_classes_from_real_encodes(clips, encoding: str) -> None:
    window = next(packet_windows(clips[encoding][0], 600))
    classes = set(window.classes.tolist())
    assert CLASS_I in classes and CLASS_P in classes and (classes & {CLASS_B, 2}), classes
    assert 4 not in classes  # no unknown frame types


def _quiet_pattern(n: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """IBBBP-like quiet stream: P ~1.3 KB every 4th frame among B of ~200 B, a keyframe per 40."""
    sizes, classes = [], []
    for i in range(n):
        if i % 40 == 0:
            sizes.append(40_000)
            classes.append(CLASS_I)
        elif i % 4 == 0:
            sizes.append(int(1300 * rng.lognormal(0, 0.2)))
            classes.append(CLASS_P)
        else:
            sizes.append(int(200 * rng.lognormal(0, 0.3)))
            classes.append(CLASS_B)
    return sizes, classes


def test_baseline_compares_like_with_like_and_finds_a_burst() -> None:
    rng = np.random.default_rng(1)
    sizes, classes = _quiet_pattern(400, rng)
    for i in range(200, 240):  # 4 s of motion: every inter frame 5x larger
        if classes[i] != CLASS_I:
            sizes[i] *= 5
    hot = PacketBaseline().hot(_window(sizes, classes))
    assert hot[205:238].mean() > 0.9
    assert hot[:195].mean() < 0.02 and hot[250:].mean() < 0.02  # the P/B pattern alone is not hot
    grouper = HotGrouper()
    spans = [*grouper.feed(np.flatnonzero(hot) / 10), *grouper.flush()]
    assert len(spans) == 1 and 18.5 <= spans[0].start_s <= 20 and 24 <= spans[0].end_s <= 25.5, spans


def _b_frame_burst(rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Quiet IBBBP stream whose B-frames alone grow 3x for 4 s (small motion; P-frames unchanged)."""
    sizes, classes = _quiet_pattern(400, rng)
    for i in range(200, 240):
        if classes[i] == CLASS_B:
            sizes[i] *= 3
    return sizes, classes


def test_one_baseline_for_all_classes_would_fail() -> None:
    """With P and B lumped in one class the quiet P-frames set the bar, and a burst that shows in
    the B-frames alone (600 B, still below a quiet 1.3 KB P-frame) is missed; per class it is found."""
    sizes, classes = _b_frame_burst(np.random.default_rng(1))
    lumped = [c if c == CLASS_I else CLASS_P for c in classes]
    assert PacketBaseline().hot(_window(sizes, lumped))[205:238].mean() < 0.2
    assert PacketBaseline().hot(_window(sizes, classes))[205:238].mean() > 0.6


def test_quiet_gop_position_swings_are_not_hot() -> None:
    """x264 gives the P-frames after a keyframe several times the size of later ones, even in quiet
    footage; a high-quantile baseline must not call that pattern hot."""
    rng = np.random.default_rng(3)
    sizes, classes = _quiet_pattern(600, rng)
    for i in range(600):
        if classes[i] == CLASS_P and i % 40 in (4, 8):
            sizes[i] *= 6
    assert PacketBaseline().hot(_window(sizes, classes))[40:].mean() < 0.02


def _decaying_gop(n: int, rng: np.random.Generator, burst: range) -> tuple[list[int], list[int]]:
    """IBBBP stream, a keyframe per 40 frames; quiet P and B sizes start ~6x high after each keyframe
    and decay over the GOP (as x264 spends); every inter frame in ``burst`` is 3x its quiet size."""
    sizes, classes = [], []
    for i in range(n):
        place = i % 40
        decay = 1 + 5 * math.exp(-place / 6)
        if place == 0:
            size, cls = 40_000.0, CLASS_I
        elif place % 4 == 0:
            size, cls = 1300 * decay * rng.lognormal(0, 0.2), CLASS_P
        else:
            size, cls = 200 * decay * rng.lognormal(0, 0.3), CLASS_B
        sizes.append(int(size * (3 if i in burst and cls != CLASS_I else 1)))
        classes.append(cls)
    return sizes, classes


def test_per_place_baseline_sees_motion_late_in_the_gop() -> None:
    """Late in a GOP, a frame tripled by motion is still smaller than a quiet frame just after the
    keyframe: a baseline per class only (its high quantile set by the big early frames) misses it,
    the baseline per place in the GOP (learnt after a few GOPs) finds it."""
    burst = range(412, 440)  # places 12-39 of the 11th GOP
    sizes, classes = _decaying_gop(600, np.random.default_rng(4), burst)
    hot = PacketBaseline().hot(_window(sizes, classes))
    inter = np.array(classes) != CLASS_I
    inside = np.zeros(len(sizes), bool)
    inside[burst.start + 3 : burst.stop] = True  # past the smoothing's first frames
    assert hot[inside & inter].mean() > 0.8
    quiet = np.ones(len(sizes), bool)
    quiet[: 6 * 40] = False  # places learnt from the 7th GOP on
    quiet[burst.start - 10 : burst.stop + 10] = False
    assert hot[quiet].mean() < 0.03  # and the decay itself is not hot


def test_informativeness_vbr_cbr_intra() -> None:
    rng = np.random.default_rng(2)
    vbr = _window(*_quiet_pattern(300, rng))
    assert PacketBaseline().informative(vbr)[0]
    cbr_sizes = [40_000 if i % 40 == 0 else int(15_000 * rng.lognormal(0, 0.1)) for i in range(300)]
    cbr = _window(cbr_sizes, [CLASS_I if i % 40 == 0 else CLASS_P for i in range(300)])
    ok, reason = PacketBaseline().informative(cbr)
    assert not ok and "constant bitrate" in reason
    ok, reason = PacketBaseline().informative(_window([30_000] * 100, [CLASS_I] * 100))
    assert not ok and "intra-only" in reason


def test_grouper_drops_lone_frames_and_pads() -> None:
    grouper = HotGrouper(gap_s=2.0, min_hot=2, margin_s=1.0)
    spans = list(grouper.feed(np.array([3.0, 10.0, 10.5, 11.0, 20.0]))) + list(grouper.flush())
    assert spans == [Span(9.0, 12.0, "candidate")]


def test_merge_spans() -> None:
    spans = [Span(0, 5, "candidate"), Span(6, 8, "candidate"), Span(20, 30, "fallback")]
    assert list(merge_spans(iter(spans), 2.0)) == [Span(0, 8, "candidate"), Span(20, 30, "fallback")]
