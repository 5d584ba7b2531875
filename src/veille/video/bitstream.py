"""Frame types from compressed packets, without decoding: a few bits of the H.264/H.265 slice header.

A packet holds NAL units, either length-prefixed (MP4/MKV: "AVCC"/"hvcC") or start-code
delimited (Annex B: raw ``.h264``/``.ts``). The first slice NAL tells the slice type (I, P or B)
and whether the frame is a reference; together they name a *frame class* whose packet sizes
are comparable with each other (a quiet P-frame is several times larger than a quiet B-frame).
"""

from __future__ import annotations

from collections.abc import Iterator

# Frame classes: small ints, so per-class baselines can live in a list.
CLASS_I = 0
CLASS_P = 1
CLASS_B_REF = 2
CLASS_B = 3
CLASS_UNKNOWN = 4
N_CLASSES = 5

_H264_SLICE = {0: CLASS_P, 1: CLASS_B, 2: CLASS_I, 3: CLASS_P, 4: CLASS_I}  # slice_type % 5
_H265_SLICE = {0: CLASS_B, 1: CLASS_P, 2: CLASS_I}


class _Bits:
    """An MSB-first bit reader over bytes with emulation-prevention bytes removed."""

    def __init__(self, data: bytes) -> None:
        self.data = data.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]  # IndexError past the end: caller treats as unknown
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def ue(self) -> int:
        """Exp-Golomb unsigned integer, ue(v)."""
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-golomb code")
        value = 0
        for _ in range(zeros):
            value = (value << 1) | self.bit()
        return (1 << zeros) - 1 + value


def length_size(codec: str, extradata: bytes | None) -> int:
    """NAL length-prefix size from avcC/hvcC extradata; 0 means Annex B start codes."""
    if not extradata or extradata[0] != 1:  # no config record: Annex B
        return 0
    if codec == "hevc" and len(extradata) > 22:
        return (extradata[21] & 3) + 1
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    return 0


def iter_nals(packet: bytes, nal_length: int) -> Iterator[bytes]:
    """The NAL units of one packet (payload without the prefix or start code)."""
    if nal_length:
        pos, n = 0, len(packet)
        while pos + nal_length <= n:
            size = int.from_bytes(packet[pos : pos + nal_length], "big")
            pos += nal_length
            if size <= 0:
                return
            yield packet[pos : pos + size]
            pos += size
        return
    for part in packet.split(b"\x00\x00\x01"):
        part = part.rstrip(b"\x00")
        if part:
            yield part


def h264_class(packet: bytes, nal_length: int) -> int:
    """Frame class of an H.264 packet from its first slice header."""
    for nal in iter_nals(packet, nal_length):
        if len(nal) < 2:
            continue
        nal_type = nal[0] & 0x1F
        if nal_type == 5:
            return CLASS_I
        if nal_type != 1:
            continue
        try:
            bits = _Bits(nal[1:12])
            bits.ue()  # first_mb_in_slice
            kind = _H264_SLICE.get(bits.ue() % 5, CLASS_UNKNOWN)
        except (IndexError, ValueError):
            return CLASS_UNKNOWN
        if kind == CLASS_B and nal[0] & 0x60:  # nal_ref_idc > 0: a reference B-frame (B-pyramid)
            return CLASS_B_REF
        return kind
    return CLASS_UNKNOWN


def h265_class(packet: bytes, nal_length: int) -> int:
    """Frame class of an H.265 packet from its first slice segment header.

    Assumes ``num_extra_slice_header_bits == 0`` (what encoders write); a packet whose first slice
    is not the first of its picture reads as unknown.
    """
    for nal in iter_nals(packet, nal_length):
        if len(nal) < 3:
            continue
        nal_type = (nal[0] >> 1) & 0x3F
        if nal_type > 31:  # parameter sets, SEI, AUD...
            continue
        if 16 <= nal_type <= 23:
            return CLASS_I
        try:
            bits = _Bits(nal[2:14])
            if not bits.bit():  # first_slice_segment_in_pic_flag
                return CLASS_UNKNOWN
            bits.ue()  # slice_pic_parameter_set_id
            kind = _H265_SLICE.get(bits.ue(), CLASS_UNKNOWN)
        except (IndexError, ValueError):
            return CLASS_UNKNOWN
        if kind == CLASS_B and nal_type % 2 == 1:  # *_R types are referenced
            return CLASS_B_REF
        return kind
    return CLASS_UNKNOWN


def frame_class(codec: str, packet: bytes, nal_length: int, is_keyframe: bool) -> int:
    """Frame class of a packet of ``codec`` ('h264', 'hevc'; others read as I or unknown)."""
    if is_keyframe:
        return CLASS_I
    if codec == "h264":
        return h264_class(packet, nal_length)
    if codec == "hevc":
        return h265_class(packet, nal_length)
    return CLASS_UNKNOWN
