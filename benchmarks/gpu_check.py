"""GPU check: the full profile on the tiny checkpoints on CUDA, in bf16 and in 8-bit (``device_map="auto"``).

For each mode it runs veille's analysis (describe → ground → judge → summary) through the real
``ModelSession`` (lazy loads, the describer released before the reasoner, everything freed at the end)
over synthetic chunks, and prints:

- per role: device, dtype and quantization as ``report.models`` records them, and CUDA memory when loaded;
- CUDA memory allocated before the analysis, at its peak, and after the manager's cleanup;
- VLM/LLM calls, events and their sources, boxes found, wall time.

It exits non-zero when a check fails: a role not on CUDA or not in the wanted dtype/quantization
(bf16; with 8-bit, fp16 around the int8 layers),
more VLM calls than chunks, an event not VLM-sourced, or memory left allocated after cleanup.
Run: ``python benchmarks/gpu_check.py`` (needs a CUDA GPU; 8-bit needs bitsandbytes).
On a machine without CUDA it says so and exits 0.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only; read when huggingface_hub is imported
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import torch  # noqa: E402

from benchmarks.analysis import StageClock, synthetic_chunks  # noqa: E402
from veille.backends.runtime import has_bitsandbytes  # noqa: E402

CHUNKS = 6
LEFT_OVER_BYTES = 1 << 20  # what cleanup may leave allocated (CUDA context scratch), 1 MiB


def warm_up_cublas() -> None:
    """One bf16 and one fp16 product, so cuBLAS's per-process workspace (32 MiB on Hopper) exists already."""
    for dtype in (torch.bfloat16, torch.float16):
        a = torch.ones(64, 64, device="cuda", dtype=dtype)
        (a @ a).sum().item()


def run_mode(paths: dict[str, Path], mode: str, device: str = "cuda") -> list[str]:
    """The full profile in one mode; returns the failed checks."""
    from veille.analysis.engine import run_models
    from veille.models.session import ModelSession
    from veille.settings import Settings
    from veille.types import VideoInfo

    settings = Settings(
        profile="full",
        vlm=str(paths["idefics3"]),
        llm=str(paths["phi"]),
        grounder=str(paths["kosmos2"]),
        device=device,
        dtype="auto",
        load_in_8bit=mode == "int8",
    )
    loaded: dict[str, int] = {}

    def factory(role: str, path: Path, options: object, **kwargs: object) -> object:
        from veille.backends.factory import create_backend

        backend = create_backend(role, path, options, **kwargs)  # type: ignore[arg-type]
        loaded[role] = torch.cuda.memory_allocated()
        return backend

    warnings: list[str] = []
    clock = StageClock()
    warm_up_cublas()  # its workspace lives as long as the process: not a model's memory
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    started = time.perf_counter()
    info = VideoInfo(Path("synthetic.mp4"), CHUNKS * 20.0, 15.0, 160, 90, CHUNKS * 300, "h264")
    with ModelSession(settings, progress=clock, warnings=warnings, factory=factory) as session:
        outcome = run_models(info, synthetic_chunks(CHUNKS), settings, session, progress=clock)
        session.video_done()
    wall = time.perf_counter() - started
    torch.cuda.synchronize()
    after, peak = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
    return report(mode, outcome, loaded, (before, peak, after), wall, clock, warnings)


def report(
    mode: str,
    outcome: object,
    loaded: dict[str, int],
    memory: tuple[int, int, int],
    wall: float,
    clock: StageClock,
    warnings: list[str],
) -> list[str]:
    """Print one mode's figures; return the checks that failed."""
    failed = [f"{mode}: warning: {w}" for w in warnings]
    quant, dtype = ("int8", "fp16") if mode == "int8" else (None, "bf16")  # LLM.int8 multiplies in fp16
    print(f"\n== full profile, {mode}, {CHUNKS} chunks ==")
    for role, info in outcome.models.items():  # type: ignore[attr-defined]
        if info is None:
            failed.append(f"{mode}: {role} did not load")
            continue
        mib = loaded.get(role, 0) / 2**20
        how = f"{info.device}/{info.dtype}/{info.quantization or '-'}"
        print(f"{role:<9} {info.id[-12:]:<12} {how}  loaded {mib:.1f} MiB")
        if info.device != "cuda" or info.dtype != dtype:
            failed.append(f"{mode}: {role} ran on {info.device}/{info.dtype}")
        if info.quantization != quant:
            failed.append(f"{mode}: {role} quantization {info.quantization}, wanted {quant}")
    events = outcome.events  # type: ignore[attr-defined]
    boxes = sum(len(getattr(k, "boxes", ())) for e in events for k in e.keyframes)
    sources = sorted({e.source for e in events})
    print(
        f"calls: {outcome.vlm_calls} VLM for {CHUNKS} chunks ({outcome.frames_to_vlm} frames), "  # type: ignore[attr-defined]
        f"{outcome.llm_calls} LLM; {len(events)} events, sources {sources}, {boxes} boxes; "  # type: ignore[attr-defined]
        f"summary {len(outcome.summary)} chars"  # type: ignore[attr-defined]
    )
    before, peak, after = memory
    print(f"CUDA memory allocated: before {before} B, peak {peak / 2**20:.1f} MiB, after cleanup {after} B")
    print("wall " + f"{wall:.1f} s: " + " ".join(f"{k}={v:.2f}" for k, v in clock.spent.items()))
    if outcome.vlm_calls > CHUNKS or outcome.vlm_calls == 0:  # type: ignore[attr-defined]
        failed.append(f"{mode}: {outcome.vlm_calls} VLM calls for {CHUNKS} chunks")  # type: ignore[attr-defined]
    if not events or sources != ["vlm"]:
        failed.append(f"{mode}: events {len(events)}, sources {sources}")
    if after - before > LEFT_OVER_BYTES:
        failed.append(f"{mode}: {after - before} bytes still allocated after cleanup")
    return failed


def main() -> int:
    """Run every mode; 0 when all checks passed (or when there is no GPU to check)."""
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to check (run this on a GPU machine)")
        return 0
    from tests.tiny_models import build_all

    print(f"{torch.cuda.get_device_name()} · torch {torch.__version__} · bitsandbytes: {has_bitsandbytes()}")
    modes = ["bf16", "int8"] if has_bitsandbytes() else ["bf16"]
    failed: list[str] = [] if has_bitsandbytes() else ["bitsandbytes is not installed: 8-bit not checked"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_all(Path(tmp))
        for mode in modes:
            failed += run_mode(paths, mode)
    print("\n" + ("all checks passed" if not failed else "FAILED:\n  " + "\n  ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
