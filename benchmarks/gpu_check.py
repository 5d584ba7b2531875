"""GPU check of the model runtime: tiny checkpoints on CUDA in bf16 and in 8-bit with device_map="auto".

For each (model, mode) it loads through ``veille.models.runtime.load_kwargs`` and the backend factory,
generates a few tokens, releases, and prints ``torch.cuda.memory_allocated()`` before, loaded and after.
Run: ``python benchmarks/gpu_check.py`` (needs a CUDA GPU; 8-bit rows need bitsandbytes).
On a machine without CUDA it says so and exits 0.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tiny_models import build_idefics3, build_kosmos2, build_phi
from veille.backends.factory import create_backend
from veille.models.runtime import RuntimeOptions, has_bitsandbytes, release

MODES = {"bf16": RuntimeOptions(device="cuda", dtype="bf16", load_in_8bit=False)}


def _use(role: str, backend: object) -> str:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    if role == "describer":
        return backend.generate("Describe.", [image], max_new_tokens=4)  # type: ignore[attr-defined]
    if role == "reasoner":
        return backend.generate("Instruct: hello\nOutput:", max_new_tokens=4)  # type: ignore[attr-defined]
    return str(backend.ground(image))  # type: ignore[attr-defined]


def check(role: str, path: Path, mode: str, options: RuntimeOptions) -> None:
    """Load, generate, release one model; print memory before / loaded / after."""
    release()
    before = torch.cuda.memory_allocated()
    started = time.perf_counter()
    backend = create_backend(role, path, options, model_id=path.name)
    loaded = torch.cuda.memory_allocated()
    text = _use(role, backend)
    info = backend.info
    backend.close()
    del backend
    release()
    after = torch.cuda.memory_allocated()
    print(
        f"{role:<9} {mode:<5} {info.device}/{info.dtype}/{info.quantization or '-':<5} "
        f"before={before} loaded={loaded} after={after} bytes  {time.perf_counter() - started:.1f} s  out={text[:30]!r}"
    )


def main() -> int:
    """Run every check; 0 when all passed (or when there is no GPU to check)."""
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to check (run this on a GPU machine)")
        return 0
    if has_bitsandbytes():
        MODES["int8"] = RuntimeOptions(device="cuda", dtype="bf16", load_in_8bit=True)
    else:
        print("bitsandbytes is not installed: 8-bit rows skipped (pip install 'veille[cuda]')")
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "describer": build_idefics3(Path(tmp) / "idefics3"),
            "reasoner": build_phi(Path(tmp) / "phi"),
            "grounder": build_kosmos2(Path(tmp) / "kosmos2"),
        }
        for mode, options in MODES.items():
            for role, path in models.items():
                check(role, path, mode, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
