"""The index of an output folder: rebuilt from reports alone, incremental, transactional, tolerant of odd reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.archive_fixtures import EVENTS, HashEmbedder, write_report
from tests.cli_run import cli_env
from veille.archive.indexer import EmbedderMismatch, embed_pending, index_path, rebuild, sync
from veille.archive.service import index_report
from veille.archive.store import Store


def _titles(store: Store, folder: str | None = None) -> list[str]:
    sql = "SELECT e.title FROM events e JOIN videos v ON v.id = e.video_id"
    where = " WHERE v.folder = ?" if folder else ""
    rows = store.conn.execute(sql + where + " ORDER BY e.id", (folder,) if folder else ())
    return [r[0] for r in rows]


def _fts(store: Store, word: str) -> list[str]:
    """The titles of the events the full-text index finds for ``word`` (None for a row it holds in excess)."""
    ids = [r[0] for r in store.conn.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH ?", (word,))]
    titles = dict(store.conn.execute("SELECT id, title FROM events").fetchall())
    return sorted(str(titles.get(i)) for i in ids)


def _two_reports(out: Path) -> None:
    write_report(out, "cam3_20240501_221500", EVENTS[:3], anomaly=[0.5, None, 2.5], camera="yard")
    write_report(out, "frontdoor", EVENTS[3:])


def test_rebuild_from_reports_alone_keeps_every_field(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    embedder = HashEmbedder()
    result, embedded = rebuild(tmp_path, embedder)
    assert sorted(result.indexed) == ["cam3_20240501_221500", "frontdoor"] and embedded == len(EVENTS)
    with Store(index_path(tmp_path)) as store:
        assert store.meta("embedder") == embedder.name and store.meta("dim") == str(embedder.dim)
        assert store.count("embeddings") == store.count("events") == len(EVENTS)
        video = store.conn.execute(
            "SELECT path, camera, start_source, duration_s FROM videos WHERE folder = 'cam3_20240501_221500'"
        ).fetchone()
        assert video == ("/videos/cam3_20240501_221500.mp4", "yard", "filename", 600.0)
        rows = store.event_rows([1, 3])
    cyclist, door = rows[1], rows[3]
    assert (cyclist["title"], cyclist["threat"], cyclist["start_s"], cyclist["end_s"]) == (EVENTS[0][0], 0, 0.0, 8.0)
    assert cyclist["keyframes"] == ["cam3_20240501_221500/thumbs/event000_0.jpg"] and cyclist["anomaly"] == 0.5
    assert door["anomaly"] == 2.5 and door["confidence"] == 0.8 and door["source"] == "vlm"


def test_a_reanalysed_video_replaces_its_rows_and_a_removed_one_goes(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    embedder = HashEmbedder()
    rebuild(tmp_path, embedder)
    write_report(tmp_path, "frontdoor", [("Dog on the lawn", "A dog runs across the lawn.", 0)])
    with Store(index_path(tmp_path)) as store:
        result = sync(store, tmp_path)
        assert result.indexed == ["frontdoor"]  # the unchanged report is not read again
        assert _titles(store, "frontdoor") == ["Dog on the lawn"]
        assert _titles(store, "cam3_20240501_221500") == [e[0] for e in EVENTS[:3]]
        assert _fts(store, "van") == [] and _fts(store, "dog") == ["Dog on the lawn"]  # full text follows
        assert store.count("embeddings") == 3  # the old events' embeddings went with them
        assert embed_pending(store, embedder, tmp_path) == 1 and store.count("embeddings") == 4
        (tmp_path / "frontdoor" / "report.json").unlink()
        assert sync(store, tmp_path).removed == ["frontdoor"]
        assert _titles(store) == [e[0] for e in EVENTS[:3]] and store.count("embeddings") == 3


def test_an_error_in_the_middle_of_a_replace_leaves_the_old_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_reports(tmp_path)
    rebuild(tmp_path, HashEmbedder())
    write_report(tmp_path, "frontdoor", [("Dog on the lawn", "A dog runs.", 0), ("Cat", "A cat sits.", 0)])
    from veille.archive import store as store_module

    real = store_module.json.dumps
    calls = {"n": 0}

    def fail_on_second_event(value: object) -> str:
        calls["n"] += 1
        if calls["n"] == 2:  # the old rows are deleted and the first new event is written by now
            raise KeyboardInterrupt
        return real(value)

    monkeypatch.setattr(store_module.json, "dumps", fail_on_second_event)
    with Store(index_path(tmp_path)) as store, pytest.raises(KeyboardInterrupt):
        sync(store, tmp_path)
    monkeypatch.undo()
    with Store(index_path(tmp_path)) as store:
        assert _titles(store, "frontdoor") == [e[0] for e in EVENTS[3:]]
        assert _fts(store, "dog") == [] and _fts(store, "van") == [EVENTS[3][0]]
        assert sync(store, tmp_path).indexed == ["frontdoor"]  # the report is still new to the index
        assert _titles(store, "frontdoor") == ["Dog on the lawn", "Cat"]


_KILLED = """
import os, sys
from pathlib import Path
from veille.archive.reports import read_report
from veille.archive.store import Store
out = Path(sys.argv[1])
store = Store(out / "archive.sqlite")
with store.transaction():
    store.replace_video(read_report(out / "frontdoor"), (1, 1))
    os._exit(9)  # the process dies in the middle of the transaction, as on a power cut
"""


def test_a_process_killed_in_a_transaction_leaves_a_sound_index(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    rebuild(tmp_path, HashEmbedder())
    write_report(tmp_path, "frontdoor", [("Dog on the lawn", "A dog runs.", 0)])
    done = subprocess.run([sys.executable, "-c", _KILLED, str(tmp_path)], env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    with Store(index_path(tmp_path)) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        store.conn.execute("INSERT INTO events_fts(events_fts) VALUES ('integrity-check')")
        assert _titles(store, "frontdoor") == [e[0] for e in EVENTS[3:]]
        assert sync(store, tmp_path).indexed == ["frontdoor"]


def test_reports_of_an_unknown_schema_are_skipped_with_a_warning_once(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    newer = write_report(tmp_path, "newer", EVENTS[:1])
    data = json.loads((newer / "report.json").read_text())
    (newer / "report.json").write_text(json.dumps({**data, "schema_version": 2}))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "report.json").write_text("{not json")
    odd = write_report(tmp_path, "odd", EVENTS[:1])
    data = json.loads((odd / "report.json").read_text())
    data["events"][0]["threat_level"] = "high"
    (odd / "report.json").write_text(json.dumps(data))
    warned: list[str] = []
    result, _ = rebuild(tmp_path, HashEmbedder(), warn=warned.append)
    assert sorted(result.indexed) == ["cam3_20240501_221500", "frontdoor"]
    assert len(warned) == 3 and warned == result.skipped
    assert any("newer/report.json" in w and "schema_version 2" in w for w in warned)
    assert any("junk/report.json" in w for w in warned)
    assert any("odd/report.json" in w and "threat" in w for w in warned)
    with Store(index_path(tmp_path)) as store:
        assert sync(store, tmp_path, warn=warned.append).skipped == []  # said once per version of the file
        (newer / "report.json").write_text(json.dumps({**data, "schema_version": 1, "events": []}))
        assert sync(store, tmp_path).indexed == ["newer"]


def test_an_index_embedded_by_another_model_is_refused(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    rebuild(tmp_path, HashEmbedder("model/a"))
    with Store(index_path(tmp_path)) as store, pytest.raises(EmbedderMismatch, match="model/a, not model/b"):
        embed_pending(store, HashEmbedder("model/b"), tmp_path)
    with Store(index_path(tmp_path)) as store, pytest.raises(EmbedderMismatch):
        embed_pending(store, HashEmbedder("model/a", dim=32), tmp_path)  # same name, other size: refused too
    rebuild(tmp_path, HashEmbedder("model/b"))  # `veille index --embedder`: embedded again with the new one
    with Store(index_path(tmp_path)) as store:
        assert store.meta("embedder") == "model/b" and store.count("embeddings") == len(EVENTS)


def test_an_interrupted_rebuild_keeps_the_old_index(tmp_path: Path) -> None:
    _two_reports(tmp_path)
    rebuild(tmp_path, HashEmbedder())
    write_report(tmp_path, "frontdoor", [("Dog on the lawn", "A dog runs.", 0)])

    class Failing(HashEmbedder):
        def encode(self, texts: object, *, batch_size: int = 64) -> object:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(tmp_path, Failing())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["archive.sqlite"]  # no temporary left
    with Store(index_path(tmp_path)) as store:
        assert _titles(store, "frontdoor") == [e[0] for e in EVENTS[3:]] and store.count("embeddings") == len(EVENTS)


def test_the_hook_after_a_report_adds_its_rows_and_never_raises(tmp_path: Path) -> None:
    write_report(tmp_path, "frontdoor", EVENTS[3:])
    assert index_report(tmp_path, "frontdoor") is None
    with Store(index_path(tmp_path)) as store:
        assert _titles(store) == [e[0] for e in EVENTS[3:]] and store.count("embeddings") == 0
    index_path(tmp_path).unlink()
    index_path(tmp_path).mkdir()  # the index cannot be opened
    warning = index_report(tmp_path, "frontdoor")
    assert warning is not None and "was not updated" in warning and "veille search" in warning


@pytest.mark.parametrize(
    "query",
    [
        "white van",
        "a man at the back door",
        "walks walking walked",  # three words, one stem: three phrases, as FTS5 counts them
        "Fire! smoke, FLAMES?",
        "AB-123-CD",
        "unicorn",
        "the of a",  # nothing left to match
        "café rôle",
    ],
)
def test_full_text_relevance_is_fts5s_bm25_of_every_event(tmp_path: Path, query: str) -> None:
    from veille.archive.lexical import LexicalIndex, fts_match

    _two_reports(tmp_path)
    write_report(tmp_path, "more", [("Man walks to the van", "He walked past the white van, walking fast.", 0),
                                    ("Cafe", "The role of the café owner: he walks the dog.", 0)])
    rebuild(tmp_path, HashEmbedder())
    with Store(index_path(tmp_path)) as store:
        ids = np.asarray([r[0] for r in store.conn.execute("SELECT id FROM events ORDER BY id")])
        scores = LexicalIndex(store.conn, ids).scores(query)
        match = fts_match(query)
        expected = np.zeros(len(ids))
        if match:
            found, bm25 = store.full_text(match)
            expected[np.searchsorted(ids, found)] = bm25
    assert np.allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert (scores > 0).any() == (query not in ("unicorn", "the of a"))


def test_each_distinct_text_is_embedded_once(tmp_path: Path) -> None:
    same = ("Motion", "Movement from the left to the right of the frame for 8 s.", 0)
    write_report(tmp_path, "quiet", [same, same, same, EVENTS[0], same])
    embedded: list[str] = []

    class Counting(HashEmbedder):
        def encode(self, texts, *, batch_size=64):  # type: ignore[no-untyped-def]
            embedded.extend(texts)
            return super().encode(texts, batch_size=batch_size)

    rebuild(tmp_path, Counting())
    assert len(embedded) == 2
    with Store(index_path(tmp_path)) as store:
        rows = store.conn.execute("SELECT vector FROM embeddings ORDER BY event_id")
        vectors = [np.frombuffer(r[0], np.float16) for r in rows]
    assert len(vectors) == 5 and all((v == vectors[0]).all() for v in (vectors[1], vectors[2], vectors[4]))
    assert not (vectors[3] == vectors[0]).all()
