"""Device, dtype and 8-bit choices of the model runtime; release frees memory."""

from __future__ import annotations

import copy
import gc
import weakref

import psutil
import pytest
import torch

from veille.backends import runtime
from veille.backends.runtime import RuntimeOptions, eight_bit_plan, load_kwargs, resolve_device, resolve_dtype
from veille.errors import ModelError


def test_auto_device_is_cpu_without_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible; this test is about a CPU-only machine")
    assert resolve_device("auto") in ("cpu", "mps")
    assert resolve_device("cpu") == "cpu"


def test_forced_cuda_without_gpu_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_auto_prefers_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


@pytest.mark.parametrize(
    ("requested", "device", "capability", "expected"),
    [
        ("auto", "cpu", None, "fp32"),
        ("auto", "cuda", (8, 0), "bf16"),
        ("auto", "cuda", (9, 0), "bf16"),
        ("auto", "cuda", (7, 5), "fp16"),
        ("auto", "mps", None, "fp16"),
        ("bf16", "cpu", None, "bf16"),
        ("fp32", "cuda", (8, 0), "fp32"),
    ],
)
def test_dtype_choice(
    monkeypatch: pytest.MonkeyPatch, requested: str, device: str, capability: tuple | None, expected: str
) -> None:
    if capability is not None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    assert resolve_dtype(requested, device) == expected


@pytest.mark.parametrize(
    ("native", "role", "expected"),
    [(False, "reasoner", "bf16"), (False, "describer", "fp32"), (True, "describer", "bf16")],
)
def test_cpu_dtype_follows_the_role_and_the_cpu(
    monkeypatch: pytest.MonkeyPatch, native: bool, role: str, expected: str
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    assert resolve_dtype("auto", "cpu", role) == expected


def test_bf16_reasoner_on_a_plain_cpu_computes_prompts_in_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch import nn

    from veille.backends._hf import prepare

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    model = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 4)).to(torch.bfloat16)
    prompt = torch.randn(1, 40, 16).to(torch.bfloat16)
    expected = model[1](model[0](prompt))  # before widening: bf16 all the way
    prepare(model, {"device": "cpu", "dtype": "bf16"})
    reference = nn.functional.linear(
        nn.functional.linear(prompt.float(), model[0].weight.float(), model[0].bias.float()).to(torch.bfloat16).float(),
        model[1].weight.float(),
        model[1].bias.float(),
    ).to(torch.bfloat16)
    out = model(prompt)
    assert out.dtype is torch.bfloat16 and torch.equal(out, reference)
    assert torch.allclose(out.float(), expected.float(), atol=0.05)
    one_token = prompt[:, :1]
    f = nn.functional.linear
    bf16_path = f(f(one_token, model[0].weight, model[0].bias), model[1].weight, model[1].bias)
    assert torch.equal(model(one_token), bf16_path)  # decoding one token stays in bf16


def test_cpu_kwargs_are_safe_and_int8_by_default() -> None:
    kwargs, fields = load_kwargs(RuntimeOptions(device="cpu"), role="grounder")
    assert kwargs["dtype"] == "auto"  # read as stored (no converted copy), then quantized
    assert kwargs["use_safetensors"] is True and kwargs["trust_remote_code"] is False
    assert "device_map" not in kwargs and "quantization_config" not in kwargs  # bitsandbytes is for CUDA
    assert "load_in_8bit" not in kwargs  # gone in transformers 5
    assert fields == {"device": "cpu", "dtype": "fp32", "quantization": "int8-dynamic"}


def test_cpu_full_precision_when_asked() -> None:
    kwargs, fields = load_kwargs(RuntimeOptions(device="cpu", load_in_8bit=False), role="grounder")
    assert kwargs["dtype"] is torch.float32 or fields["dtype"] == "bf16"  # fp32, or bf16 on a native-bf16 CPU
    assert fields["quantization"] is None
    kwargs, fields = load_kwargs(RuntimeOptions(device="cpu", dtype="fp32"), role="reasoner")
    assert kwargs["dtype"] is torch.float32 and fields == {"device": "cpu", "dtype": "fp32", "quantization": None}


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, *, bnb: bool) -> None:
    monkeypatch.setattr(runtime, "resolve_device", lambda requested: "cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 6))
    monkeypatch.setattr(runtime, "has_bitsandbytes", lambda: bnb)


def test_cuda_grounder_defaults_to_8bit_with_device_map_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cuda(monkeypatch, bnb=True)
    kwargs, fields = load_kwargs(RuntimeOptions(), role="grounder")
    assert kwargs["device_map"] == "auto" and kwargs["dtype"] is torch.float16  # LLM.int8 multiplies in fp16
    assert kwargs["quantization_config"].load_in_8bit is True
    assert fields["quantization"] == "int8" and fields["dtype"] == "fp16"
    describer, info = load_kwargs(RuntimeOptions(), role="describer")
    assert "quantization_config" not in describer and info["quantization"] is None
    assert describer["dtype"] is torch.bfloat16 and info["dtype"] == "bf16"
    off, info = load_kwargs(RuntimeOptions(load_in_8bit=False), role="grounder")
    assert "quantization_config" not in off and info["quantization"] is None
    forced, info = load_kwargs(RuntimeOptions(load_in_8bit=True), role="reasoner")
    assert forced["quantization_config"].load_in_8bit is True


def test_8bit_with_a_forced_dtype_keeps_it_and_quiets_the_cast_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    _fake_cuda(monkeypatch, bnb=True)
    notices = logging.getLogger("bitsandbytes.autograd._functions")
    monkeypatch.setattr(notices, "level", logging.NOTSET)
    kwargs, fields = load_kwargs(RuntimeOptions(dtype="bf16", load_in_8bit=True), role="reasoner")
    assert kwargs["dtype"] is torch.bfloat16 and fields == {"device": "cuda", "dtype": "bf16", "quantization": "int8"}
    assert notices.getEffectiveLevel() == logging.ERROR


def test_8bit_plan_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert eight_bit_plan(RuntimeOptions(), role="describer", device="cpu") == ("int8-dynamic", None)
    assert eight_bit_plan(RuntimeOptions(dtype="bf16"), role="reasoner", device="cpu") == (None, None)
    assert eight_bit_plan(RuntimeOptions(dtype="bf16", load_in_8bit=True), role="reasoner", device="cpu")[0]
    assert eight_bit_plan(RuntimeOptions(load_in_8bit=False), role="grounder", device="cpu") == (None, None)
    scheme, warning = eight_bit_plan(RuntimeOptions(load_in_8bit=True), role="reasoner", device="mps")
    assert scheme is None and warning is not None and "mps" in warning
    assert eight_bit_plan(RuntimeOptions(), role="grounder", device="mps") == (None, None)  # silent default
    _fake_cuda(monkeypatch, bnb=False)
    use, warning = eight_bit_plan(RuntimeOptions(), role="grounder", device="cuda")
    assert not use and warning is not None and "bitsandbytes" in warning


def test_release_collects_cycles_holding_a_model() -> None:
    model = torch.nn.Linear(64, 64)
    model.me = [model]  # type: ignore[attr-defined]  # a cycle: only the garbage collector frees it
    ref = weakref.ref(model)
    gc.disable()
    try:
        del model
        assert ref() is not None
        runtime.release()
        assert ref() is None
    finally:
        gc.enable()
    assert runtime.memory_bytes("cpu") > 0
    assert 0 < runtime.spare_bytes("cpu") < psutil.virtual_memory().total


def test_int8_linears_stay_close_to_fp32_and_compute_in_int8() -> None:
    from torch import nn

    from veille.backends._hf import prepare

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.GELU(), nn.Linear(512, 256), nn.LayerNorm(256)).to(torch.bfloat16)
    reference = copy.deepcopy(model).float()  # the same (bf16-rounded) weights in fp32
    x = torch.randn(2, 40, 256)
    with torch.no_grad():
        expected = reference(x)
    quantized = prepare(model, {"device": "cpu", "dtype": "fp32", "quantization": "int8-dynamic"})
    assert not any(type(m) is nn.Linear for m in quantized.modules())
    assert all(p.dtype is torch.float32 for p in quantized.parameters())  # the rest is widened to fp32
    with torch.no_grad():
        out = quantized(x)
    error = ((out - expected).norm() / expected.norm()).item()
    assert 0 < error < 0.05  # int8 rounding shows, but stays small


def test_int8_unavailable_falls_back_to_fp32_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from torch import nn

    from veille.backends import _hf

    def no_kernels(model: object) -> int:
        raise RuntimeError("Didn't find engine for operation quantized::linear_prepack")

    monkeypatch.setattr(_hf, "quantize_linears", no_kernels)
    fields = {"device": "cpu", "dtype": "fp32", "quantization": "int8-dynamic"}
    model = _hf.prepare(nn.Linear(8, 8).to(torch.bfloat16), fields)
    assert model.weight.dtype is torch.float32 and fields["quantization"] is None
    assert "int8 layers are not available" in caplog.text
