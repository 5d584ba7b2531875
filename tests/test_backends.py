"""Every backend through its real path: tiny checkpoints via transformers (offline), a stub OpenAI server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.model_faults import FAULTS, break_model
from veille.backends.base import Grounder, TextModel, VisionLanguageModel, cut_at_stop
from veille.backends.factory import create_backend
from veille.backends.kosmos2 import GROUNDING_PROMPT, entities_to_boxes
from veille.backends.openai_compat import OpenAICompatBackend
from veille.backends.runtime import RuntimeOptions
from veille.errors import BackendError, ModelError

CPU = RuntimeOptions(device="cpu", dtype="fp32")
RNG = np.random.default_rng(0)
FRAME = RNG.integers(0, 255, (48, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def backends(tiny_models: dict[str, Path]) -> Iterator[dict[str, Any]]:
    built = {
        "vlm": create_backend("describer", tiny_models["idefics3"], CPU, model_id="tiny/idefics3"),
        "phi": create_backend("reasoner", tiny_models["phi"], CPU, model_id="tiny/phi", revision="abc"),
        "phi3": create_backend("reasoner", tiny_models["phi3"], CPU, model_id="tiny/phi3"),
        "kosmos": create_backend("grounder", tiny_models["kosmos2"], CPU, model_id="tiny/kosmos2"),
    }
    yield built
    for backend in built.values():
        backend.close()


def test_protocols_and_model_info(backends: dict[str, Any]) -> None:
    assert isinstance(backends["vlm"], VisionLanguageModel)
    assert isinstance(backends["phi"], TextModel) and isinstance(backends["kosmos"], Grounder)
    info = backends["phi"].info
    assert (info.id, info.revision, info.device, info.dtype) == ("tiny/phi", "abc", "cpu", "fp32")


def test_idefics3_one_tile_per_frame_and_batches(backends: dict[str, Any]) -> None:
    vlm = backends["vlm"]
    prompt = vlm._prompt("What happens?", 2)
    assert prompt.count("<image>") == 2 and prompt.endswith("Assistant:")
    inputs = vlm.processor(text=[prompt], images=[[FRAME, FRAME]], return_tensors="pt", **vlm._image_kwargs())
    assert inputs["pixel_values"].shape[1] == 2  # splitting off: one tile per frame, not rows x cols + global
    text = vlm.generate("What happens?", [FRAME, FRAME], max_new_tokens=6)
    assert isinstance(text, str)
    answers = vlm.generate_batch([("a", [FRAME]), ("a longer question here", [FRAME, FRAME])], max_new_tokens=6)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_phi2_format_and_stop(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    assert not phi.chat and phi.format("Judge this.") == "Instruct: Judge this.\nOutput:"
    assert isinstance(phi.generate("Judge this.", max_new_tokens=5, stop=["\n\n"]), str)


def test_phi3_uses_its_chat_template(backends: dict[str, Any]) -> None:
    phi3 = backends["phi3"]
    assert phi3.chat and phi3.format("hi") == "<|user|>\nhi<|end|>\n<|assistant|>\n"
    assert isinstance(phi3.generate("hi", max_new_tokens=5), str)


def test_kosmos2_generates_and_parses_real_processor_output(backends: dict[str, Any], monkeypatch: Any) -> None:
    kosmos = backends["kosmos"]
    assert isinstance(kosmos.ground(FRAME), list)  # random weights: usually no entity, never a crash
    tagged = " a man</phrase><object><patch_index_0000><patch_index_1023></object>"
    monkeypatch.setattr(kosmos, "caption", lambda image: "<phrase>" + tagged)
    boxes = kosmos.ground(FRAME)
    assert [b.label for b in boxes] == ["a man"]
    x1, y1, x2, y2 = boxes[0].xyxy
    assert 0 <= x1 < 3 and 0 <= y1 < 3 and 62 < x2 <= 64 and 46 < y2 <= 48  # pixel coordinates of a 64x48 frame


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        ([("a car", (0, 5), [(0.5, 0.5, 1.0, 1.0)])], [("a car", (50.0, 25.0, 100.0, 50.0))]),
        ([("x", (0, 1), [(1.2, -0.1, 0.5, 0.5)])], [("x", (50.0, 0.0, 100.0, 25.0))]),  # clipped, reordered
        ([("dot", (0, 3), [(0.5, 0.5, 0.5, 0.5)])], []),  # degenerate
        ([("  ", (0, 2), [(0.0, 0.0, 0.1, 0.2)])], [("object", (0.0, 0.0, 10.0, 10.0))]),
    ],
)
def test_entities_to_boxes(entities: list, expected: list) -> None:
    assert [(b.label, b.xyxy) for b in entities_to_boxes(entities, 100, 50)] == expected


MODEL_CALLS = {
    "vlm": lambda b: b.generate_batch([("What happens?", [FRAME])], max_new_tokens=4),
    "phi-weigh": lambda b: b.choose_each("Judge.", (" 0", " 1", " 2"), [" [1] level:", " [2] level:"]),
    "phi-write": lambda b: b.continue_each("Judge.", [" [1] level: 0 title:"], max_new_tokens=4),
    "phi-generate": lambda b: b.generate("Summarise.", max_new_tokens=4),
    "kosmos": lambda b: b.ground(FRAME),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("call", MODEL_CALLS)
def test_a_failing_model_raises_a_backend_error_naming_it(
    backends: dict[str, Any], call: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = backends[call.split("-")[0]]
    break_model(backend, fault, monkeypatch)
    with pytest.raises(BackendError) as caught:
        MODEL_CALLS[call](backend)
    message = str(caught.value)
    assert message.startswith(f"{backend.info.id} failed: {FAULTS[fault]}: ") and "\n" not in message
    assert type(caught.value.__cause__).__name__ == FAULTS[fault]  # the library's error is chained


def test_a_tokenizer_failure_becomes_a_backend_error(backends: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:  # the tokenizers library raises plain Exceptions
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise Exception("Tokenization error: unexpected input")

    phi = backends["phi"]
    monkeypatch.setattr(phi, "tokenizer", Broken(phi.tokenizer))
    with pytest.raises(BackendError, match="tiny/phi failed: Exception: Tokenization error"):
        phi.choose_each("Judge.", (" 0", " 1"), [" [1] level:"])


def test_factory_rejects_a_model_in_the_wrong_role(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot be the describer"):
        create_backend("describer", tiny_models["phi"], CPU, model_id="phi")
    with pytest.raises(ModelError, match=r"config\.json"):
        create_backend("reasoner", tmp_path, CPU, model_id="empty")


def test_cut_at_stop() -> None:
    assert cut_at_stop("answer\nInstruct: more", ["Instruct:"]) == "answer"
    assert cut_at_stop(" plain ", []) == "plain"


def test_grounding_prompt_is_kosmos_format() -> None:
    assert GROUNDING_PROMPT.startswith("<grounding>")


# ---------------------------------------------------------------- OpenAI-compatible HTTP backend


class _Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Any = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append((self.path, dict(self.headers), body))
        status, answer = server.answers.pop(0) if server.answers else (200, "ok")
        payload = json.dumps({"choices": [{"message": {"content": answer}}]} if status == 200 else {"error": "x"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def stub() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.requests, server.answers = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _backend(server: Any, **kwargs: Any) -> OpenAICompatBackend:
    return OpenAICompatBackend(f"http://127.0.0.1:{server.server_port}/v1", "llava", backoff_s=0.01, **kwargs)


def test_openai_sends_images_as_data_urls(stub: Any) -> None:
    stub.answers.append((200, "A man walks.\nInstruct: junk"))
    text = _backend(stub, api_key="k").generate("Describe.", [FRAME, FRAME], max_new_tokens=30, stop=["Instruct:"])
    assert text == "A man walks."
    path, headers, body = stub.requests[0]
    content = body["messages"][0]["content"]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer k"
    assert body["model"] == "llava" and body["max_tokens"] == 30 and body["stop"] == ["Instruct:"]
    assert [c["type"] for c in content] == ["image_url", "image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_openai_retries_server_errors_then_succeeds(stub: Any) -> None:
    stub.answers += [(503, ""), (200, "fine")]
    assert _backend(stub, retries=2).generate("q", max_new_tokens=5) == "fine"
    assert len(stub.requests) == 2 and stub.requests[0][2]["messages"][0]["content"] == "q"


def test_openai_gives_up_with_a_clear_error(stub: Any) -> None:
    stub.answers += [(500, ""), (500, "")]
    with pytest.raises(BackendError, match="HTTP 500"):
        _backend(stub, retries=1).generate("q", max_new_tokens=5)
    assert len(stub.requests) == 2
    stub.answers.append((400, ""))
    with pytest.raises(BackendError, match="HTTP 400"):
        _backend(stub, retries=3).generate("q", max_new_tokens=5)
    assert len(stub.requests) == 3  # a client error is not retried


def test_openai_unreachable_server() -> None:
    backend = OpenAICompatBackend("http://127.0.0.1:9/v1", "m", retries=0, timeout_s=2)
    with pytest.raises(BackendError, match="server is running"):
        backend.generate("q", max_new_tokens=5)


def test_prefix_cache_gives_the_same_answers(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    prompt = "Scenes: a man walks to the door and looks around."
    fresh = []
    for start in ("", " [1] level: 0 title:"):
        phi._cache, phi._cached_ids = None, []
        fresh.append(phi.continue_answer(prompt, start, max_new_tokens=6))
    reused_before = phi.reused_tokens
    again = [phi.continue_answer(prompt, start, max_new_tokens=6) for start in ("", " [1] level: 0 title:")]
    assert again == fresh
    assert phi.reused_tokens > reused_before  # the second prompt was computed from where it parts from the first


def test_choose_weighs_levels_like_a_fresh_model(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    phi.continue_answer("Something else entirely.", "", max_new_tokens=3)  # leave an unrelated cache behind
    probs = phi.choose("Scenes: a man at the door.", [" 0", " 1", " 2"], answer_start=" [1] level:")
    phi._cache, phi._cached_ids = None, []
    fresh = phi.choose("Scenes: a man at the door.", [" 0", " 1", " 2"], answer_start=" [1] level:")
    assert probs is not None and fresh is not None and len(probs) == 3
    assert abs(sum(probs) - 1) < 1e-5 and np.allclose(probs, fresh, atol=1e-4)
    assert phi.choose("x", ["same", "same"]) is None  # choices that cannot be told apart


def test_batched_answers_match_one_at_a_time(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    prompt = "Scenes: [3] a man at the door. [12] a van stops."
    heads = [" [3] level:", " [12] level:", " [3] level: 1 title: Man at the door and"]  # token counts differ
    phi._cache, phi._cached_ids = None, []
    together = phi.choose_each(prompt, [" 0", " 1", " 2"], heads)
    alone = [phi.choose(prompt, [" 0", " 1", " 2"], answer_start=h) for h in heads]
    assert together is not None and np.allclose(together, alone, atol=1e-4)
    written = phi.continue_each(prompt, heads, max_new_tokens=5)
    assert written == [phi.continue_answer(prompt, h, max_new_tokens=5) for h in heads]
    reused = phi.reused_tokens
    phi.continue_each(prompt, heads[:2], max_new_tokens=2)
    assert phi.reused_tokens - reused >= len(phi._ids(prompt, "")) - 1  # a batch leaves the shared prompt cached


def _shared_prefix(seqs: list[list[int]]) -> int:
    """How many leading tokens all ``seqs`` have in common."""
    n = 0
    while all(len(s) > n for s in seqs) and len({s[n] for s in seqs}) == 1:
        n += 1
    return n


def test_answers_go_on_in_the_caches_of_the_levels_just_weighed(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    prompt, heads = "Scenes: [3] a man at the door. [12] a van stops.", [" [3] level:", " [12] level:"]
    starts = [f"{h} 1 title:" for h in heads]
    alone = []
    for start in starts:
        phi._cache, phi._cached_ids, phi._rows = None, [], None
        alone.append(phi.continue_answer(prompt, start, max_new_tokens=5))
    phi.choose_each(prompt, [" 0", " 1", " 2"], heads)
    computed = phi.computed_tokens
    assert phi.continue_each(prompt, starts, max_new_tokens=5) == alone
    # the levels were weighed on each head's tokens up to where " 0", " 1" and " 2" part
    weighed = [_shared_prefix([phi._ids(prompt, h + c) for c in (" 0", " 1", " 2")]) for h in heads]
    added = sum(len(phi._ids(prompt, s)) - w for s, w in zip(starts, weighed, strict=True))
    assert phi.computed_tokens - computed == added  # only what each line added was computed
    assert phi._rows is None  # and those caches are not used twice


def test_batches_are_split_to_fit_in_memory(backends: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from veille.backends import runtime

    phi = backends["phi"]
    prompt, heads = "Scenes: [3] a man at the door.", [" [3] level:", " [4] level:", " [5] level: 2 title:"]
    together = phi.continue_each(prompt, heads, max_new_tokens=4)
    rows = [phi._ids(prompt, h) for h in heads]
    assert len(phi._parts(rows, room=4)) == 1  # the tiny model's caches fit at once
    per_row = len(phi._parts(rows, room=4)[0])
    monkeypatch.setattr(runtime, "spare_bytes", lambda device: 1)  # no room: one row at a time
    assert [len(part) for part in phi._parts(rows, room=4)] == [1, 1, 1] and per_row == 3
    assert phi.continue_each(prompt, heads, max_new_tokens=4) == together


def test_generation_on_a_preallocated_cache_is_never_compiled(
    backends: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    phi, seen = backends["phi"], []
    real = phi.model.generate
    monkeypatch.setattr(phi.model, "generate", lambda **kwargs: seen.append(kwargs) or real(**kwargs))
    phi.continue_each("Scenes: a van stops.", [" [1] level:", " [2] level:"], max_new_tokens=2)
    assert seen and all(k["disable_compile"] is True and type(k["cache"]).__name__ == "StaticCache" for k in seen)


def test_smolvlm2_without_its_extra_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from veille.models.catalog import CATALOG

    assert CATALOG["smolvlm2-256m"].role == "describer" and CATALOG["smolvlm2"].architecture == "smolvlm"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "smolvlm"}))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    with pytest.raises(ModelError, match=r"veille\[smolvlm2\]"):
        create_backend("describer", tmp_path, CPU, model_id="HuggingFaceTB/SmolVLM2-256M-Video-Instruct")
    with pytest.raises(ModelError, match="cannot be the reasoner"):
        create_backend("reasoner", tmp_path, CPU, model_id="x")


def test_prompts_are_read_without_scoring_the_vocabulary_at_every_token(backends: dict[str, Any]) -> None:
    phi = backends["phi"]
    head = phi.model.get_output_embeddings()
    seen: list[int] = []
    hook = head.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0].shape[1]))
    try:
        prompt = "Scenes: [1] a van stops. [2] a man walks past the gate and waits near the door for a while."
        phi.choose_each(prompt, [" 0", " 1", " 2"], [" [1] level:", " [2] level:"])
        phi.continue_each(prompt, [" [1] level: 0 title:", " [2] level: 1 title:"], max_new_tokens=3)
    finally:
        hook.remove()
    assert seen and max(seen) == 1  # only the next token's scores: a long prompt's logits are never computed


def test_phi2_activations_run_fused_and_compute_the_same(backends: dict[str, Any]) -> None:
    import torch
    from transformers.activations import GELUTanh, NewGELUActivation

    model = backends["phi"].model
    kinds = {type(m) for m in model.modules()}
    assert GELUTanh in kinds and NewGELUActivation not in kinds  # swapped at load
    x = torch.randn(4, 64)
    assert torch.allclose(GELUTanh()(x), NewGELUActivation()(x), atol=1e-6)
