"""Small gray frames for the anomaly statistics, decoded on a second thread.

Decoding (PyAV, which lets go of the GIL while it decodes) runs one frame ahead of the optical flow
on the caller's thread, so two cores both work. Memory stays flat: at most ``_QUEUE`` frames wait.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from veille.cpus import available as available_cpus
from veille.types import VideoInfo
from veille.video.decode import INTRA_ONLY_CODECS, decode_frames, decode_threads, small_gray
from veille.video.probe import open_container

_QUEUE = 16
_DONE = object()


@dataclass(frozen=True, slots=True)
class GrayFrame:
    """An analysis frame; ``fresh`` is True for the first frame after a jump in time."""

    t_s: float
    image: np.ndarray
    fresh: bool


def merge_spans(spans: Sequence[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    """Sorted spans, those less than ``gap_s`` apart joined into one."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def gray_frames(
    info: VideoInfo,
    size: tuple[int, int],
    interval_s: float,
    spans: Sequence[tuple[float, float]] | None = None,
    cpu: list[float] | None = None,
) -> Iterator[GrayFrame]:
    """Frames of ``info.path`` at least ``interval_s`` apart (within ``spans`` if given), as gray
    ``size`` images. Frames are picked by their timestamps, so variable frame rates are fine.

    Decoding happens on a helper thread; its errors are raised here. Closing the iterator early
    stops the thread. The helper's CPU seconds are added to ``cpu[0]`` when given.
    """
    out: queue.Queue = queue.Queue(maxsize=_QUEUE)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(info, size, interval_s, spans, out, stop, cpu), daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.05)
        worker.join()


def _produce(info, size, interval_s, spans, out: queue.Queue, stop: threading.Event, cpu) -> None:
    started = time.thread_time()
    try:
        for item in _decode(info, size, interval_s, spans):
            if stop.is_set():
                return
            out.put(item)
    except BaseException as exc:  # handed to the consumer, raised there
        out.put(exc)
        return
    finally:
        if cpu is not None:
            cpu[0] += time.thread_time() - started
    out.put(_DONE)


def _decoder_threads(stream, codec: str) -> None:
    """FFmpeg's own threads only where they pay beside the statistics thread: with 4 or more CPUs, or
    for intra-only codecs (see :func:`decode_threads`). Otherwise one thread: with a single slice a
    frame (most H.264), slice threads add 15 % of CPU and no speed, and the other core is busy anyway."""
    cpus = available_cpus()
    if cpus >= 4 or codec in INTRA_ONLY_CODECS:
        stream.thread_type = decode_threads(codec)
    else:
        stream.codec_context.thread_count = 1


def _decode(info: VideoInfo, size, interval_s: float, spans) -> Iterator[GrayFrame]:
    bad = [0]
    with open_container(info.path) as container:
        stream = container.streams.video[0]
        _decoder_threads(stream, info.codec)
        stream.codec_context.options = {"skip_loop_filter": "all"}
        tb = float(stream.time_base or 0) or 1 / 90000
        rate = info.fps or 25.0
        slack = 0.25 / rate  # a frame a little early still counts (timestamps are rounded)
        for start, end in merge_spans(spans, 2.0) if spans is not None else [(0.0, float("inf"))]:
            if start > 0:
                container.seek(int(start / tb), stream=stream, backward=True)
            fresh, due, last = True, start, -1.0
            for frame in decode_frames(container, stream, bad):
                t = float(frame.pts * tb) if frame.pts is not None else last + 1 / rate
                last = t
                if t >= end:
                    break
                if t >= due - slack:
                    yield GrayFrame(t, small_gray(frame, size), fresh)
                    fresh, due = False, max(due + interval_s, t + interval_s - slack)
