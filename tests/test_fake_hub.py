"""The fake Hub on loopback, driven by the real huggingface_hub / transformers clients.

Facts about huggingface_hub 2.4 pinned down here (each test name says which):
- snapshot_download = GET /api/models/{id}/revision/main, GET .../tree/{sha}?recursive=true,
  then per file HEAD /{id}/resolve/{sha}/{file} and GET (LFS: GET of the redirect target);
- a body cut with a clean EOF is resumed by ``http_get`` itself (whole 10 MiB chunks kept,
  ``Range: bytes=10485760-`` for a 24 MiB file); a TCP reset (ReadError) is not retried;
- 5xx: HEAD retried (at once, then with backoff), tree listing retried (http_backoff),
  model_info and the body GET are not retried;
- offline (HF_HUB_OFFLINE=1) sends nothing and serves a complete cached snapshot.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub, patch_endpoint, run_client

REPO = "org/tiny"
PATTERNS = ["*.json", "*.safetensors", "*.txt"]
SNAPSHOT = (
    f"from huggingface_hub import snapshot_download\nemit(snapshot_download({REPO!r}, allow_patterns={PATTERNS!r}))"
)


def _download(filename: str, repo: str = REPO) -> str:
    """Client code: hf_hub_download one file, emit [path, sha256]."""
    return (
        "import hashlib\nfrom huggingface_hub import hf_hub_download\n"
        f"p = hf_hub_download({repo!r}, {filename!r})\n"
        "emit([p, hashlib.sha256(open(p, 'rb').read()).hexdigest()])"
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """A small repo: config, small weights, a decoy .bin, text and a nested file."""
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": "tiny"}))
    (root / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (root / "pytorch_model.bin").write_bytes(b"decoy, must never be downloaded")
    (root / "notes.txt").write_text("hello\n")
    (root / "sub" / "extra.json").write_text("{}")
    return root


@pytest.fixture
def hub(repo_dir: Path) -> Iterator[FakeHub]:
    """Running FakeHub serving ``org/tiny`` and a gated copy ``org/gated``."""
    with FakeHub({REPO: repo_dir, "org/gated": repo_dir}, gated={"org/gated"}) as server:
        yield server


@pytest.fixture
def env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    """Client environment with a private HF_HOME and 1 s timeouts."""
    return hub.client_env(tmp_path / "hf", HF_HUB_ETAG_TIMEOUT="1", HF_HUB_DOWNLOAD_TIMEOUT="1")


def test_snapshot_download_fills_cache_layout(hub: FakeHub, env: dict[str, str], tmp_path: Path) -> None:
    res = run_client(SNAPSHOT, env)
    assert res.ok, res.stderr
    sha = hub.commit_sha(REPO)
    storage = tmp_path / "hf" / "hub" / "models--org--tiny"
    assert Path(res.value) == storage / "snapshots" / sha
    assert (storage / "refs" / "main").read_text() == sha
    for name in ("config.json", "model.safetensors", "notes.txt", "sub/extra.json"):
        assert (storage / "snapshots" / sha / name).read_bytes() == (hub.repo(REPO).files[name].local).read_bytes()
    weights = hub.repo(REPO).files["model.safetensors"]
    assert (storage / "blobs" / str(weights.sha256)).is_file()  # LFS blob named by sha256
    assert (storage / "blobs" / hub.repo(REPO).files["config.json"].oid).is_file()  # git blob oid
    assert not (storage / "snapshots" / sha / "pytorch_model.bin").exists()
    assert "pytorch_model.bin" not in hub.requested_files("GET") + hub.requested_files("HEAD")
    paths = [r.path.split("?")[0] for r in hub.requests]
    assert paths[:2] == [f"/api/models/{REPO}/revision/main", f"/api/models/{REPO}/tree/{sha}"]
    assert sorted(hub.requested_files("HEAD")) == sorted(hub.requested_files("GET"))
    assert any(r.headers["host"].startswith("localhost:") for r in hub.requests)  # LFS redirect followed


def test_api_model_info_and_tree(hub: FakeHub, env: dict[str, str]) -> None:
    res = run_client(
        f"""
        from huggingface_hub import HfApi
        api = HfApi()
        info = api.model_info({REPO!r}, files_metadata=True)
        tree = api.list_repo_tree({REPO!r}, recursive=True)
        emit({{"sha": info.sha, "gated": info.gated, "siblings": sorted(s.rfilename for s in info.siblings),
               "lfs": {{f.path: f.lfs.sha256 for f in tree if getattr(f, "lfs", None)}},
               "top": sorted(f.path for f in api.list_repo_tree({REPO!r})),
               "gated_repo": api.model_info("org/gated").gated}})
        """,
        env,
    )
    assert res.ok, res.stderr
    files = hub.repo(REPO).files
    assert res.value["sha"] == hub.commit_sha(REPO)
    assert res.value["siblings"] == sorted(files)
    assert res.value["lfs"] == {n: files[n].sha256 for n in ("model.safetensors", "pytorch_model.bin")}
    assert res.value["top"] == ["config.json", "model.safetensors", "notes.txt", "pytorch_model.bin", "sub"]
    assert res.value["gated_repo"] == "manual"


def test_cut_transfer_small_file_is_redownloaded(hub: FakeHub, env: dict[str, str]) -> None:
    hub.cut_first_transfer("*.safetensors")
    res = run_client(SNAPSHOT, env)
    assert res.ok, res.stderr
    assert hub.requested_files("GET").count("model.safetensors") == 2
    assert not any(r.range for r in hub.requests)  # < 10 MiB received: nothing kept, no Range
    assert _sha256(Path(res.value) / "model.safetensors") == hub.repo(REPO).files["model.safetensors"].sha256


def test_cut_transfer_large_file_resumes_with_range(hub: FakeHub, env: dict[str, str]) -> None:
    big = hub.add_random_file(REPO, "big.safetensors", size=24 * 1024 * 1024)
    hub.cut_first_transfer("big.safetensors")  # sends 12 MiB of 24, then FIN
    res = run_client(_download("big.safetensors"), env)
    assert res.ok, res.stderr
    assert res.value[1] == _sha256(big)
    gets = [r for r in hub.requests if r.method == "GET" and "big.safetensors" in r.path]
    assert [r.range for r in gets] == [None, f"bytes={10 * 1024 * 1024}-"]


def test_connection_reset_is_not_retried_but_second_call_works(hub: FakeHub, env: dict[str, str]) -> None:
    hub.cut_first_transfer("model.safetensors", nbytes=100, rst=True)
    assert run_client(_download("model.safetensors"), env).raised("ReadError")
    res = run_client(_download("model.safetensors"), env)
    assert res.ok, res.stderr
    assert res.value[1] == hub.repo(REPO).files["model.safetensors"].sha256


def test_5xx_on_metadata_head_is_retried_by_the_client(hub: FakeHub, env: dict[str, str]) -> None:
    hub.fail_then_ok("config.json", status=503, times=2, methods=["HEAD"])
    res = run_client(_download("config.json"), env)
    assert res.ok, res.stderr
    assert hub.requested_files("HEAD") == ["config.json"] * 3 and hub.requested_files("GET") == ["config.json"]


def test_5xx_on_tree_listing_is_retried_by_the_client(hub: FakeHub, env: dict[str, str]) -> None:
    hub.fail_then_ok(f"/api/models/{REPO}/tree/*", status=500)
    res = run_client(SNAPSHOT, env)
    assert res.ok, res.stderr
    assert sum("/tree/" in r.path for r in hub.requests) == 2


@pytest.mark.parametrize(
    ("pattern", "methods", "error"),
    [
        ("model.safetensors", ["GET"], "HfHubHTTPError"),  # body GET: no 5xx retry
        (f"/api/models/{REPO}/revision/main", ["GET"], "LocalEntryNotFoundError"),  # model_info: no retry
    ],
)
def test_5xx_not_retried_then_second_call_succeeds(
    hub: FakeHub, env: dict[str, str], pattern: str, methods: list[str], error: str
) -> None:
    hub.fail_then_ok(pattern, status=500, methods=methods)
    assert run_client(SNAPSHOT, env).raised(error)
    assert run_client(SNAPSHOT, env).ok


def test_stalled_body_times_out_and_is_retried(hub: FakeHub, env: dict[str, str]) -> None:
    hub.stall("config.json", seconds=10, methods=["GET"])  # > HF_HUB_DOWNLOAD_TIMEOUT=1
    start = time.monotonic()
    res = run_client(_download("config.json"), env)
    assert res.ok, res.stderr
    assert hub.requested_files("GET") == ["config.json", "config.json"]
    assert time.monotonic() - start < 10  # gave up on the stalled answer and resumed


def test_stop_is_prompt_while_a_request_stalls(repo_dir: Path) -> None:
    hub = FakeHub({REPO: repo_dir}).start()
    hub.stall("config.json", seconds=30)
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    worker = threading.Thread(target=lambda: conn.request("GET", f"/{REPO}/resolve/main/config.json"))
    worker.start()
    deadline = time.monotonic() + 5
    while not hub.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    hub.stop()
    worker.join()
    conn.close()
    assert time.monotonic() - start < 2


def test_error_classes(hub: FakeHub, env: dict[str, str]) -> None:
    res = run_client(
        f"""
        from huggingface_hub import hf_hub_download, snapshot_download
        def name(fn, *args, **kwargs):
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                return type(exc).__name__
        emit({{
            "missing_snapshot": name(snapshot_download, "org/missing"),
            "missing_file_repo": name(hf_hub_download, "org/missing", "config.json"),
            "gated_snapshot": name(snapshot_download, "org/gated"),
            "gated_file": name(hf_hub_download, "org/gated", "config.json"),
            "bad_rev_snapshot": name(snapshot_download, {REPO!r}, revision="nope"),
            "bad_rev_file": name(hf_hub_download, {REPO!r}, "config.json", revision="nope"),
            "missing_entry": name(hf_hub_download, {REPO!r}, "absent.json"),
        }})
        """,
        env,
    )
    assert res.ok, res.stderr
    assert res.value == {
        "missing_snapshot": "RepositoryNotFoundError",
        "missing_file_repo": "RepositoryNotFoundError",
        "gated_snapshot": "GatedRepoError",
        "gated_file": "GatedRepoError",
        "bad_rev_snapshot": "RevisionNotFoundError",
        "bad_rev_file": "RevisionNotFoundError",
        "missing_entry": "RemoteEntryNotFoundError",
    }


def test_offline_uses_the_cache_without_any_request(hub: FakeHub, env: dict[str, str]) -> None:
    online = run_client(SNAPSHOT, env)
    assert online.ok, online.stderr
    hub.clear_log()
    res = run_client(
        f"""
        from huggingface_hub import hf_hub_download, snapshot_download
        out = [snapshot_download({REPO!r}, allow_patterns={PATTERNS!r}),
               snapshot_download({REPO!r}, allow_patterns={PATTERNS!r}, local_files_only=True),
               hf_hub_download({REPO!r}, "config.json")]
        try:
            snapshot_download({REPO!r})  # the decoy .bin was never fetched
        except Exception as exc:
            out.append(type(exc).__name__)
        emit(out)
        """,
        {**env, "HF_HUB_OFFLINE": "1"},
    )
    assert res.ok, res.stderr
    assert res.value[:2] == [online.value, online.value]
    assert res.value[2] == f"{online.value}/config.json"
    assert res.value[3] == "IncompleteSnapshotError"
    assert hub.requests == []


def _write_tiny_gpt2(dest: Path) -> None:
    """config.json + model.safetensors of a 1-layer GPT-2 (n_embd=16), without importing transformers."""
    import numpy as np
    from safetensors.numpy import save_file

    emb, vocab, pos = 16, 64, 32
    layer = {"ln_1.weight": (emb,), "ln_1.bias": (emb,), "ln_2.weight": (emb,), "ln_2.bias": (emb,)}
    for name, (fan_in, fan_out) in {
        "attn.c_attn": (emb, 3 * emb),
        "attn.c_proj": (emb, emb),
        "mlp.c_fc": (emb, 4 * emb),
        "mlp.c_proj": (4 * emb, emb),
    }.items():
        layer |= {f"{name}.weight": (fan_in, fan_out), f"{name}.bias": (fan_out,)}
    shapes = {"wte.weight": (vocab, emb), "wpe.weight": (pos, emb), "ln_f.weight": (emb,), "ln_f.bias": (emb,)}
    shapes |= {f"h.0.{key}": shape for key, shape in layer.items()}
    rng = np.random.default_rng(0)
    tensors = {f"transformer.{k}": (0.02 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    dest.mkdir(parents=True)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_embd": emb,
        "n_head": 2,
        "n_layer": 1,
        "n_positions": pos,
        "vocab_size": vocab,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    (dest / "config.json").write_text(json.dumps(config))


@pytest.mark.slow
def test_transformers_from_pretrained_through_the_hub(tmp_path: Path) -> None:
    model_dir = tmp_path / "gpt"
    _write_tiny_gpt2(model_dir)
    (model_dir / "pytorch_model.bin").write_bytes(b"decoy")
    with FakeHub({"org/gpt": model_dir}) as server:
        res = run_client(
            """
            from transformers import AutoModelForCausalLM
            model, info = AutoModelForCausalLM.from_pretrained("org/gpt", output_loading_info=True)
            emit({"params": sum(p.numel() for p in model.parameters()),
                  "missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"])})
            """,
            server.client_env(tmp_path / "hf"),
        )
        assert res.ok, res.stderr
        assert res.value["missing"] == res.value["unexpected"] == []
        assert res.value["params"] > 0
        sha = server.commit_sha("org/gpt")
        assert server.requests[0].path == "/api/models/org/gpt"
        assert all(f"/resolve/{sha}/" in r.path for r in server.requests if "/resolve/" in r.path)
        assert "model.safetensors" in server.requested_files("GET")
        assert "pytorch_model.bin" not in server.requested_files("GET") + server.requested_files("HEAD")


def test_raw_protocol_range_and_error_headers(hub: FakeHub) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5)
    sha = hub.commit_sha(REPO)

    def get(path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp

    resp = get(f"/{REPO}/resolve/{sha}/notes.txt", {"Range": "bytes=1-3"})
    assert (resp.status, resp.headers["Content-Range"], resp.headers["X-Repo-Commit"]) == (206, "bytes 1-3/6", sha)
    assert get(f"/{REPO}/resolve/main/notes.txt", {"Range": "bytes=9-"}).status == 416
    lfs = get(f"/{REPO}/resolve/main/model.safetensors")
    assert lfs.status == 302 and lfs.headers["Location"].startswith(hub.alt_url)
    assert lfs.headers["X-Linked-Size"] == "10240"
    for path, status, code in [
        ("/org/missing/resolve/main/a.json", 404, "RepoNotFound"),
        (f"/{REPO}/resolve/main/absent.json", 404, "EntryNotFound"),
        (f"/{REPO}/resolve/v9/config.json", 404, "RevisionNotFound"),
        ("/org/gated/resolve/main/config.json", 401, "GatedRepo"),
        ("/api/models/org/missing", 404, "RepoNotFound"),
    ]:
        resp = get(path)
        assert (resp.status, resp.headers["X-Error-Code"]) == (status, code), path
    conn.close()


def test_in_process_patch_endpoint(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import hf_hub_download, model_info

    patch_endpoint(monkeypatch, hub.url)
    path = hf_hub_download(REPO, "sub/extra.json", cache_dir=tmp_path / "cache")
    assert Path(path).read_text() == "{}"
    assert model_info(REPO).sha == hub.commit_sha(REPO)
    hub.clear_log()
    patch_endpoint(monkeypatch, hub.url, offline=True)
    assert hf_hub_download(REPO, "sub/extra.json", cache_dir=tmp_path / "cache") == path
    assert hub.requests == []
