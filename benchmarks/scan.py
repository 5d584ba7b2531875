"""Activity-scan benchmark: demux-only, decode-only, a decode-every-frame motion scan and veille's
scan, side by side in one run, on videos built at run time from real clips.

Each video: quiet stretches made from a UCSD clip's own median background (plus sensor noise and
a slow light drift) with real UCSD clips spliced in (activity ~5 % of the time), upscaled to the
chosen size and encoded with libx264 (VBR CRF 23, GOP 2 s: IP only at 720p and 1080p, and with
B-frames), as CBR and as MJPEG; plus ``veille sample`` output. Each block prints the time of the
decode-every-frame scan as NVRs run it (frame threads), and of the same scan given veille's decoder
settings (no deblocking, the faster thread mode), so the gain of skipping frames shows on its own.
Peak RSS of the scan in a fresh process for a 1-minute and a 60-minute
input (those two are built at 320x180 with ultrafast x264 to keep the build short).

    python benchmarks/scan.py --data DATA_DIR [--minutes 10] [--height 720] [--no-rss]
    (--ibbp-minutes, --hd-minutes, --cbr-minutes, --mjpeg-minutes size the other variants; 0 skips one)

The data folder can also come from ``VEILLE_DATA_DIR``. Videos go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from veille.sample import make_sample
from veille.settings import ScanSettings
from veille.video.decode import decode_threads, small_gray
from veille.video.probe import probe
from veille.video.scan import scan_video
from veille.video.synth import Stretch, truth_intervals, write_video


def load_clip(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """All frames of a clip, resized to ``size`` (w, h), RGB."""
    with av.open(str(path)) as c:
        return [
            cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_LINEAR) for f in c.decode(video=0)
        ]


def build(out: Path, clips: list[list[np.ndarray]], minutes: float, fps: int, encoding: str, **kw) -> list:
    """Quiet background stretches with the clips spliced in evenly; return truth intervals."""
    background = np.median(np.stack(clips[0][::4]), axis=0).astype(np.uint8)
    total = int(minutes * 60 * fps)
    active = sum(len(c) for c in clips)
    gap = max(fps, (total - active) // (len(clips) + 1))
    stretches: list[Stretch] = []
    for clip in clips:
        stretches += [Stretch(gap), Stretch(len(clip), lambda i, c=clip: c[i], True)]
    stretches.append(Stretch(max(0, total - sum(s.frames for s in stretches))))
    flags = write_video(out, stretches, background, fps=fps, encoding=encoding, bitrate=kw.get("bitrate", 2_000_000))
    return truth_intervals(flags, fps)


def demux_only(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(video=0))


def decode_only(path: Path) -> int:
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        return sum(1 for _ in c.decode(video=0))


def nvr_scan(path: Path, height: int = 160, tuned: bool = False) -> int:
    """Today's NVRs: decode every frame, luma at ~160 px high, difference with the previous one.

    ``tuned``: the same scan given veille's decoder settings that keep every frame (no deblocking,
    the thread mode that is faster on this machine), to show what the frame skipping alone gains.
    """
    moving = 0
    previous = None
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        if tuned:
            stream.thread_type = decode_threads(stream.codec_context.name)
            stream.codec_context.options = {"skip_loop_filter": "all"}
        w = round(stream.codec_context.width * height / stream.codec_context.height) // 2 * 2
        for frame in c.decode(stream):
            gray = small_gray(frame, (w, height))
            if previous is not None:
                moving += np.count_nonzero(cv2.absdiff(gray, previous) > 25) > 0.002 * gray.size
            previous = gray
    return moving


def ours(path: Path) -> tuple[object, float]:
    """Probe + scan + full-resolution keyframes: the whole process the pipeline runs."""
    info = probe(path)
    result = scan_video(info, ScanSettings())
    return result, info.duration_s


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def quality(result, truth: list[tuple[float, float]], duration_s: float) -> dict[str, float]:
    """Recall of truth time inside segments, quiet share of reported time, VLM frames per hour."""
    segs = [(s.start_s, s.end_s) for s in result.segments]
    overlap = sum(max(0.0, min(b, d) - max(a, c)) for a, b in truth for c, d in segs)
    reported = sum(d - c for c, d in segs)
    frames = sum(len(c.keyframes) for c in result.chunks)
    return {
        "recall": overlap / max(sum(b - a for a, b in truth), 1e-9),
        "quiet_share": 1 - overlap / reported if reported else 0.0,
        "vlm_frames_per_h": frames / (duration_s / 3600),
    }


def compare(name: str, path: Path, truth: list) -> None:
    """Run the four scanners on one video and print one block of figures."""
    packets, t_demux = timed(demux_only, path)
    frames, t_decode = timed(decode_only, path)
    _, t_nvr = timed(nvr_scan, path)
    _, t_tuned = timed(nvr_scan, path, 160, True)
    (result, duration), t_ours = timed(ours, path)
    q = quality(result, truth, duration)
    modes = ", ".join(f"{s.mode} {s.start_s:.0f}-{s.end_s:.0f}s" for s in result.stretches)
    print(f"\n== {name}: {duration:.0f} s, {frames} frames, {path.stat().st_size / 1e6:.1f} MB")
    print(
        f"  demux only        {t_demux:7.2f} s  {packets / t_demux:9.0f} packets/s  {duration / t_demux:7.0f}x realtime"
    )
    print(
        f"  decode only       {t_decode:7.2f} s  {frames / t_decode:9.0f} frames/s {duration / t_decode:7.1f}x realtime"
    )
    print(f"  decode-every-frame motion scan {t_nvr:7.2f} s  {duration / t_nvr:7.1f}x realtime  (frame threads)")
    print(f"    same, veille's decoder settings {t_tuned:6.2f} s  {duration / t_tuned:7.1f}x realtime")
    print(
        f"  veille scan       {t_ours:7.2f} s  {duration / t_ours:7.1f}x realtime  "
        f"speed vs decode-every-frame scan: {t_nvr / t_ours:.2f}x (vs its tuned form: {t_tuned / t_ours:.2f}x)"
    )
    print(
        f"  packets_scanned={result.packets_scanned} frames_decoded={result.frames_decoded} "
        f"({result.frames_decoded / max(frames, 1):.1%}) segments={len(result.segments)} modes: {modes}"
    )
    print(
        f"  recall={q['recall']:.3f}  quiet share of reported time={q['quiet_share']:.1%}  "
        f"VLM frames/hour={q['vlm_frames_per_h']:.0f}"
    )


RSS_CODE = """
import sys
from pathlib import Path
from veille.settings import ScanSettings
from veille.video.probe import probe
from veille.video.scan import scan_video
r = scan_video(probe(Path(sys.argv[1])), ScanSettings(), load_keyframes=False)
n = sum(len(c.keyframes) for c in r.iter_chunks())
# VmHWM: peak RSS of this process image (ru_maxrss would carry the parent's peak across exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(hwm, n, len(r.segments))
"""


def peak_rss(path: Path) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-c", RSS_CODE, str(path)], capture_output=True, text=True, check=True)
    rss, keyframes, segments = out.stdout.split()
    return int(rss), f"{segments} segments, {keyframes} keyframes streamed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("VEILLE_DATA_DIR"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--cbr-minutes", type=float, default=3.0)
    parser.add_argument("--ibbp-minutes", type=float, default=5.0, help="720p VBR with B-frames")
    parser.add_argument("--hd-minutes", type=float, default=5.0, help="1080p VBR, IP only")
    parser.add_argument("--mjpeg-minutes", type=float, default=1.5)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--no-rss", action="store_true")
    args = parser.parse_args()
    if not args.data or not (Path(args.data) / "ucsd_ped1").is_dir():
        sys.exit("benchmarks/scan.py: give the data folder (holding ucsd_ped1/) with --data or VEILLE_DATA_DIR")
    size = (round(args.height * 16 / 9) // 2 * 2, args.height)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        ped1 = Path(args.data) / "ucsd_ped1"
        clips = [load_clip(ped1 / f"Test00{i}.mp4", size) for i in (1, 2, 3)]  # 3 x 20 s of people
        started = time.perf_counter()
        videos = [  # name, encoding, minutes, size, clips used, encoder options
            (f"VBR {size[0]}x{size[1]} 10 fps IP only (most cameras)", "vbr-ip", args.minutes, size, 3, {}),
            (f"VBR {size[0]}x{size[1]} 10 fps with B-frames (IBBP)", "vbr", args.ibbp_minutes, size, 1, {}),
            ("VBR 1920x1080 10 fps IP only", "vbr-ip", args.hd_minutes, (1920, 1080), 1, {}),
            (f"CBR {size[0]}x{size[1]} 10 fps", "cbr", args.cbr_minutes, size, 3, {"bitrate": size[1] * 2800}),
            (f"MJPEG {size[0]}x{size[1]} 10 fps", "mjpeg", args.mjpeg_minutes, size, 1, {}),
        ]
        built = []
        for i, (name, encoding, minutes, dims, used, kw) in enumerate(videos):
            if minutes <= 0:
                continue
            scaled = [c if dims == size else [cv2.resize(f, dims) for f in c] for c in clips[:used]]
            path = tmpdir / f"v{i}.{'avi' if encoding == 'mjpeg' else 'mp4'}"
            truth = build(path, scaled, minutes, 10, encoding, **kw)
            built.append((f"{name}, UCSD Ped1 spliced into quiet", path, truth))
        sample = tmpdir / "sample.mp4"
        sample_truth = make_sample(sample, seconds=120)["active_intervals"]
        built.append(("veille sample (640x360 15 fps)", sample, [tuple(i) for i in sample_truth]))
        print(f"built test videos in {time.perf_counter() - started:.0f} s (2 cores: {os.cpu_count()} CPUs seen)")
        for name, path, truth in built:
            compare(name, path, truth)
        if not args.no_rss:
            small = [[cv2.resize(f, (320, 180)) for f in clip] for clip in clips]
            for minutes in (1, 60):
                path = tmpdir / f"rss{minutes}.mp4"
                build(path, small, minutes, 10, "vbr-ultrafast")
                rss, note = peak_rss(path)
                print(f"\npeak RSS, {minutes:2d}-minute input (320x180 ultrafast): {rss / 1024:.0f} MiB ({note})")


if __name__ == "__main__":
    main()
