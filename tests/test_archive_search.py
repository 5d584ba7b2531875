"""The real all-MiniLM-L6-v2 embedder (from its package, offline) and the hybrid search over an index."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.archive_fixtures import EVENTS, write_report
from veille.archive import search as search_module
from veille.archive.embedder import DEFAULT_NAME, Embedder, default_model_dir, load_embedder
from veille.archive.indexer import embed_pending, sync
from veille.archive.search import Query, Searcher
from veille.archive.service import open_index
from veille.errors import ModelError


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_embedder()


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may come from the network: the model is the installed package's."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def _cos(embedder: Embedder, a: str, b: str) -> float:
    va, vb = embedder.encode([a, b])
    return float(va @ vb)


def test_minilm_from_its_package_ranks_by_meaning(minilm: Embedder) -> None:
    assert minilm.name == DEFAULT_NAME and minilm.dim == 384
    assert default_model_dir().name == "model" and (default_model_dir() / "model.safetensors").is_file()
    query = "a man riding a bicycle"
    assert _cos(minilm, query, "cyclist crossing the path") > _cos(minilm, query, "car parked") + 0.2
    assert _cos(minilm, "a white van at night", "a white delivery van stops at the gate after dark") > 0.5
    rows = minilm.encode(["one", "two words", ""])
    assert rows.dtype == np.float32 and rows.shape == (3, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_encoding_in_batches_keeps_each_text_in_its_place(minilm: Embedder) -> None:
    texts = [
        "A dog runs across the lawn in front of the house while a man waters the flowers.",
        "Van.",
        "Two people stand by the gate; one of them carries a backpack.",
        "Fire.",
        "Someone opens the back door.",
    ]
    together = minilm.encode(texts, batch_size=2)  # shortest first, two at a time, padded
    alone = np.stack([minilm.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-4


@pytest.mark.slow
def test_the_embeddings_are_those_of_sentence_transformers(minilm: Embedder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = [e[1] for e in EVENTS] + ["a man riding a bicycle", "x"]
    reference = SentenceTransformer(str(default_model_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.abs(minilm.encode(texts) - reference).max() < 1e-4


def _variant(tmp_path: Path, pooling: dict[str, bool] | None, modules: list[dict] | None = None) -> Path:
    """The packaged model's files, linked, with another pooling config or module list."""
    folder = tmp_path / "variant"
    (folder / "1_Pooling").mkdir(parents=True)
    for path in default_model_dir().iterdir():
        if path.is_file() and path.name != "modules.json":
            (folder / path.name).symlink_to(path)
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 384, **pooling}))
    return folder


def test_another_model_folder_is_read_as_sentence_transformers_would(tmp_path: Path, minilm: Embedder) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    cls = Embedder(str(tmp_path), _variant(tmp_path, {"pooling_mode_cls_token": True}, modules))
    assert cls.pooling == "cls"
    text = "A cyclist crosses the footpath."
    assert 0.3 < float(cls.encode([text])[0] @ minilm.encode([text])[0]) < 0.99  # another vector, still unit
    shutil.rmtree(tmp_path / "variant")
    plain = Embedder("plain", _variant(tmp_path, None))  # a transformers folder: mean pooling
    assert plain.pooling == "mean" and np.allclose(plain.encode([text]), minilm.encode([text]), atol=1e-5)


def test_models_veille_cannot_run_are_clear_errors(tmp_path: Path) -> None:
    dense = [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
    with pytest.raises(ModelError, match=r"modules veille cannot run \(Dense\)"):
        Embedder("x", _variant(tmp_path, {}, dense))
    with pytest.raises(ModelError, match="neither a model folder nor a Hub id"):
        load_embedder(str(tmp_path / "missing" / "model"))
    with pytest.raises(ModelError, match="cannot get the embedding model someone/missing"):
        load_embedder("someone/missing")  # offline, not cached


def _archive(out: Path) -> None:
    write_report(out, "cam3_20240501_221500", EVENTS[:3])
    write_report(out, "gate_20240502_080000", EVENTS[3:], starts=[0.0, 3600.0])
    write_report(out, "lobby", [("Cleaner mops the floor", "A cleaner mops the lobby floor.", 0)], video="lobby.mp4")


def test_hybrid_search_ranks_by_meaning_and_by_words(tmp_path: Path, minilm: Embedder) -> None:
    _archive(tmp_path)
    store, embedder = open_index(tmp_path)
    searcher = Searcher(store, embedder)
    hits = searcher.search(Query("a man riding a bicycle", limit=3))
    assert hits[0].title == "Cyclist crossing the path" and hits[0].video == "cam3_20240501_221500"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "Car parked" not in [h.title for h in hits[:1]]
    plate = searcher.search(Query("AB-123-CD", limit=1))[0]
    assert plate.title == "White van at the gate" and plate.thumbnail == "gate_20240502_080000/thumbs/event000_0.jpg"
    assert plate.when == datetime(2024, 5, 2, 8).isoformat(timespec="seconds") and plate.camera == "gate"
    store.close()


def test_filters_on_camera_threat_and_time(tmp_path: Path, minilm: Embedder) -> None:
    _archive(tmp_path)
    store, embedder = open_index(tmp_path)
    searcher = Searcher(store, embedder)
    titles = lambda **f: {h.title for h in searcher.search(Query("something happening", limit=50, **f))}  # noqa: E731
    assert titles() == {e[0] for e in EVENTS} | {"Cleaner mops the floor"}
    assert titles(threat=1) == {e[0] for e in EVENTS if e[2] >= 1}
    assert titles(threat=2) == {"Fire in the bin"}
    assert titles(camera="gate") == {"White van at the gate", "Fire in the bin"}
    may2 = datetime(2024, 5, 2).timestamp()
    assert titles(since=may2) == {"White van at the gate", "Fire in the bin"}  # lobby's start is unknown: left out
    assert titles(since=may2, until=may2 + 8 * 3600 + 30) == {"White van at the gate"}  # the fire is an hour later
    assert titles(until=datetime(2024, 5, 1, 22, 15, 5).timestamp()) == {"Cyclist crossing the path"}  # overlaps
    assert titles(threat=2, since=may2 + 9 * 3600 + 4) == {"Fire in the bin"}  # still burning then
    assert titles(camera="gate", threat=2, since=may2 + 9 * 3600 + 60) == set()  # after the fire ended
    store.close()


def test_fusion_gets_both_signals_of_every_candidate(tmp_path: Path, minilm: Embedder, monkeypatch) -> None:
    _archive(tmp_path)
    store, embedder = open_index(tmp_path)
    seen = {}

    def spy(dense: np.ndarray, lexical: np.ndarray, groups: np.ndarray, starts: np.ndarray) -> np.ndarray:
        seen.update(dense=dense, lexical=lexical, groups=groups, starts=starts)
        return dense.copy()

    monkeypatch.setattr(search_module.fusion, "fused_scores", spy)
    Searcher(store, embedder).search(Query("white van", threat=1))
    rows = store.event_rows(list(range(1, 7)))
    candidates = [rows[i] for i in sorted(rows) if rows[i]["threat"] >= 1]
    texts = [f"{r['title']}. {r['description']}" for r in candidates]
    expected = embedder.encode(texts) @ embedder.encode(["white van"])[0]
    assert np.allclose(seen["dense"], expected, atol=5e-3)  # stored as float16
    sql = "SELECT rowid, -bm25(events_fts) FROM events_fts WHERE events_fts MATCH 'white OR van'"
    bm25 = dict(store.conn.execute(sql))
    ids = [i for i in sorted(rows) if rows[i]["threat"] >= 1]
    assert np.allclose(seen["lexical"], [bm25.get(i, 0.0) for i in ids]) and seen["lexical"].max() > 0
    assert list(seen["starts"]) == [r["start_s"] for r in candidates]
    videos = [r["video"] for r in candidates]
    assert [videos.index(v) for v in videos] == [list(seen["groups"]).index(g) for g in seen["groups"]]
    store.close()


def test_a_searcher_sees_what_was_indexed_after_it_started(tmp_path: Path, minilm: Embedder) -> None:
    _archive(tmp_path)
    store, embedder = open_index(tmp_path)
    searcher = Searcher(store, embedder)
    assert searcher.search(Query("dog on the lawn", limit=1))[0].title != "Dog on the lawn"
    write_report(tmp_path, "garden", [("Dog on the lawn", "A dog runs across the lawn.", 0)])
    sync(store, tmp_path)
    embed_pending(store, embedder, tmp_path)
    assert searcher.search(Query("dog on the lawn", limit=1))[0].title == "Dog on the lawn"
    store.close()
