"""int8 on the CPU: the same numbers as PyTorch's dynamic quantization, streamed loads, the int8 cache."""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

from veille.backends import _hf, int8, int8_layers
from veille.backends import int8_store as int8_cache
from veille.backends.int8_load import load_int8
from veille.backends.tensorfile import TensorReader

INT8_FIELDS = {"device": "cpu", "dtype": "fp32", "quantization": "int8-dynamic"}
AUTO = {"phi": AutoModelForCausalLM, "phi3": AutoModelForCausalLM, "idefics3": AutoModelForImageTextToText}
AUTO["kosmos2"] = AutoModelForImageTextToText


def torch_dynamic(linear: nn.Linear) -> nn.Module:
    """PyTorch's own dynamic int8 layer from the fp32 values of ``linear`` (what veille used to build)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig

        reference = copy.deepcopy(linear).float()
        reference.qconfig = per_channel_dynamic_qconfig
        return DynamicLinear.from_float(reference)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_int8_layers_compute_what_torch_dynamic_quantization_computes(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8, "CHUNK_ELEMENTS", 1000)  # several chunks per layer
    monkeypatch.setattr(int8, "TALL", 100)  # and several packed blocks
    monkeypatch.setattr(int8, "BLOCK_ROWS", 64)
    torch.manual_seed(0)
    for rows, cols, bias in [(300, 100, True), (64, 64, False), (130, 33, True)]:
        linear = nn.Linear(cols, rows, bias=bias).to(dtype)
        with torch.no_grad():
            linear.weight[3].zero_()  # an all-zero channel: the smallest scale
            linear.weight[5].mul_(100)
            linear.weight[7] = (torch.arange(cols) * 0.5 - 5).to(dtype)  # values on rounding ties
        mine, reference = int8.Int8Linear.from_linear(linear), torch_dynamic(linear)
        assert len(mine._packs) == len(int8.blocks(rows)) and (rows <= 100 or len(mine._packs) > 1)
        values, scales = int8.quantize_rows(linear.weight.detach())
        qweight = reference.weight()
        assert torch.equal(values, qweight.int_repr()) and torch.equal(scales.double(), qweight.q_per_channel_scales())
        for shape in [(1, cols), (2, 7, cols), (50, cols)]:
            x = torch.randn(shape) * 3
            assert torch.equal(mine(x), reference(x))


def test_quantize_linears_swaps_every_linear_once(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = nn.Linear(8, 8)
    model = nn.Sequential(nn.Linear(4, 8), shared, nn.ReLU(), shared, nn.LayerNorm(8))
    x = torch.randn(3, 4)
    expected = nn.Sequential(*[torch_dynamic(m) if type(m) is nn.Linear else m for m in model])(x)
    assert int8.quantize_linears(model) == 2
    assert not any(type(m) is nn.Linear for m in model.modules()) and model[1] is model[3]
    assert torch.equal(model(x), expected)


def _inputs(name: str, path: Path) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    torch.manual_seed(0)
    if name in ("phi", "phi3"):
        return {"input_ids": torch.randint(0, 500, (2, 9))}
    processor = AutoProcessor.from_pretrained(path)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    if name == "kosmos2":
        return dict(processor(text="<grounding>An image of", images=image, return_tensors="pt"))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    return dict(processor(text=[text], images=[[image]], return_tensors="pt"))


def _logits(model: Any, inputs: dict[str, Any]) -> torch.Tensor:
    with torch.inference_mode():
        return model(**inputs).logits


@pytest.mark.parametrize("name", ["phi", "phi3", "idefics3", "kosmos2"])
def test_streamed_load_is_from_pretrained_then_quantized(
    name: str, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    path, auto = tiny_models[name], AUTO[name]
    usual = _hf.prepare(auto.from_pretrained(path, dtype="auto").eval(), dict(INT8_FIELDS))
    streamed = load_int8(auto, path, cache=tmp_path / "int8")
    cached = load_int8(auto, path, cache=tmp_path / "int8")
    assert streamed is not None and cached is not None
    assert type(streamed) is type(usual) and streamed.generation_config == usual.generation_config
    state, usual_state = streamed.state_dict(), usual.state_dict()
    assert state.keys() == usual_state.keys() and all(torch.equal(state[k], usual_state[k]) for k in state)
    inputs = _inputs(name, path)
    expected = _logits(usual, inputs)
    assert torch.equal(_logits(streamed, inputs), expected) and torch.equal(_logits(cached, inputs), expected)


def test_a_bf16_checkpoint_gives_what_veille_computed_before(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """The old path: read in bf16, every linear through torch's DynamicLinear.from_float, the rest in fp32."""
    AutoModelForCausalLM.from_pretrained(tiny_models["phi"], dtype=torch.bfloat16).save_pretrained(tmp_path / "bf16")
    for extra in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if (tiny_models["phi"] / extra).is_file():
            (tmp_path / "bf16" / extra).write_bytes((tiny_models["phi"] / extra).read_bytes())
    old = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16", dtype=torch.bfloat16).eval()
    for name in [n for n, m in old.named_modules() if type(m) is nn.Linear]:
        owner, _, leaf = name.rpartition(".")
        setattr(old.get_submodule(owner), leaf, torch_dynamic(old.get_submodule(name)))
    old = old.float()
    new = load_int8(AutoModelForCausalLM, tmp_path / "bf16", cache=tmp_path / "int8")
    inputs = _inputs("phi", tmp_path / "bf16")
    assert torch.equal(_logits(new, inputs), _logits(old, inputs))


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("*.safetensors")
    return entry


def test_a_cached_load_reads_the_int8_weights_and_quantizes_nothing(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "int8"
    first = load_int8(AutoModelForCausalLM, tiny_models["phi"], cache=cache)
    entry = _entry(cache)
    with TensorReader(entry) as reader:
        assert reader.metadata["torch"] == torch.__version__ and json.loads(reader.metadata["source"])["files"]
        assert all(entry.dtype is torch.int8 for key, entry in reader.entries.items() if key.endswith(".weight"))

    def no_quantizing(weight: torch.Tensor) -> Any:
        raise AssertionError("a cached load quantized a layer")

    monkeypatch.setattr(int8_layers, "quantize_rows", no_quantizing)
    again = load_int8(AutoModelForCausalLM, tiny_models["phi"], cache=cache)
    inputs = _inputs("phi", tiny_models["phi"])
    assert torch.equal(_logits(again, inputs), _logits(first, inputs))


def _flip_last_weight_byte(entry: Path) -> None:
    with TensorReader(entry) as reader:
        weight = max((e for k, e in reader.entries.items() if k.endswith(".weight")), key=lambda e: e.start)
    with open(entry, "r+b") as f:
        f.seek(weight.start + weight.nbytes - 1)
        byte = f.read(1)[0]
        f.seek(weight.start + weight.nbytes - 1)
        f.write(bytes([byte ^ 0x55]))


def _truncate(entry: Path) -> None:
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) - 100])


def _other_torch(entry: Path) -> None:
    raw = entry.read_bytes()
    entry.write_bytes(raw.replace(torch.__version__.encode(), b"0" * len(torch.__version__), 1))


@pytest.mark.parametrize("damage", [_flip_last_weight_byte, _truncate, _other_torch])
def test_a_damaged_or_stale_cache_entry_is_rebuilt(
    damage: Any, tiny_models: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "int8"
    fresh = load_int8(AutoModelForCausalLM, tiny_models["phi"], cache=cache)
    entry = _entry(cache)
    sound = entry.read_bytes()
    damage(entry)
    with caplog.at_level(logging.WARNING):
        rebuilt = load_int8(AutoModelForCausalLM, tiny_models["phi"], cache=cache)
    assert "damaged or stale" in caplog.text
    inputs = _inputs("phi", tiny_models["phi"])
    assert torch.equal(_logits(rebuilt, inputs), _logits(fresh, inputs))
    assert _entry(cache) == entry and entry.read_bytes() == sound  # written again, whole


def test_entries_are_keyed_by_source_and_pruned_when_stale(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    path = tiny_models["phi"]
    files = [path / "model.safetensors"]
    source = int8_cache.source_of(path, files)
    assert source.label.startswith("local--phi-") and "folder" in source.identity
    cache = tmp_path / "int8"
    cache.mkdir()
    stale = cache / f"{source.label}--0123456789abcdef0123.safetensors"
    stale.write_bytes(b"old")
    load_int8(AutoModelForCausalLM, path, cache=cache)
    assert not stale.exists() and _entry(cache) == int8_cache.entry_path(cache, source)


def test_a_checkpoint_that_does_not_match_the_model_is_left_to_from_pretrained(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "renamed"
    folder.mkdir()
    for item in tiny_models["phi"].iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    tensors = load_file(folder / "model.safetensors")
    tensors["model.final_layernorm.gamma"] = tensors.pop("model.final_layernorm.weight")
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    assert load_int8(AutoModelForCausalLM, folder, cache=tmp_path / "int8") is None
    calls = []
    monkeypatch.setattr(_hf, "prepare", lambda model, fields: calls.append(fields) or model)
    _hf.load_model(AutoModelForCausalLM, folder, _hf_options(), "reasoner", cache=tmp_path / "int8")
    assert calls and calls[0]["quantization"] == "int8-dynamic"  # loaded the usual way, then quantized


def _hf_options() -> Any:
    from veille.backends.runtime import RuntimeOptions

    return RuntimeOptions(device="cpu")


def test_models_list_and_remove_cover_the_int8_weights(
    catalog_model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from click.testing import CliRunner

    from veille.backends.factory import create_backend
    from veille.backends.runtime import RuntimeOptions
    from veille.cli import cli
    from veille.models.hub import ensure_model
    from veille.models.int8_cache import int8_cache_dir

    home = tmp_path / "home"
    shutil.copytree(catalog_model_cache, home, symlinks=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    resolved = ensure_model("phi-2")
    options = RuntimeOptions("cpu", int8_cache=int8_cache_dir())  # as the model manager gives it
    create_backend("reasoner", resolved.path, options, model_id=resolved.model_id, revision=resolved.revision).close()

    def phi2() -> dict[str, Any]:
        rows = json.loads(CliRunner().invoke(cli, ["models", "list", "--json"]).output)
        return next(r for r in rows if r["name"] == "phi-2")

    (entry,) = (home / "veille-int8").glob("microsoft--phi-2--*.safetensors")
    assert phi2()["int8_cached"] == 1 and phi2()["int8_size"] == entry.stat().st_size
    assert "INT8" in CliRunner().invoke(cli, ["models", "list"]).output
    removed = CliRunner().invoke(cli, ["models", "remove", "phi-2"])
    assert removed.exit_code == 0 and "int8 weights" in removed.output
    assert not entry.exists() and phi2()["int8_size"] == 0
