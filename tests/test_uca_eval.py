"""``veille eval search``: precision@10 on a UCA-format file with the real MiniLM, the embedding cache, bad input."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import in_process
from tests.uca_samples import write_tiny
from veille.archive.uca_eval import (
    METHODS,
    QUERIES_FILE,
    Query,
    default_encode,
    evaluate_search,
    lexical_scores,
    load_queries,
    load_uca,
    precision_at,
)
from veille.archive.uca_table import format_search_eval
from veille.errors import InputNotFoundError, UsageError


@pytest.fixture(scope="module")
def minilm() -> tuple:
    """The real all-MiniLM-L6-v2 (the packaged one, or the archive's embedder once it exists)."""
    return default_encode()


def test_the_tiny_archive_is_ranked_as_a_person_would(tmp_path: Path, minilm: tuple) -> None:
    uca, queries = write_tiny(tmp_path)
    encode, model = minilm
    result = evaluate_search(uca, queries, encode=encode, model=model, cache_dir=tmp_path / "cache")
    assert (result.videos, result.events) == (7, 31)
    fight = 0  # "people fighting": 4 fights and 6 ordinary moments in 2 fighting videos, ordinary moments elsewhere
    assert result.precision["dense"][fight] < 0.8  # alone, an ordinary moment could be from any video
    assert result.precision["fused"][fight] == 1.0  # in context, the ten events of the two fighting videos
    assert result.precision["fused"][1] == pytest.approx(0.3)  # the arson video has 3 events: at most 3 of 10
    assert result.mean("fused") > result.mean("dense") > result.mean("bm25")
    table = format_search_eval(result)
    assert "people fighting" in table and "Fighting" in table
    assert table.splitlines()[-1].split()[1:] == [f"{result.mean(m):.3f}" for m in METHODS]


def test_embeddings_are_embedded_once_per_file_and_model(tmp_path: Path, minilm: tuple) -> None:
    uca, queries = write_tiny(tmp_path)
    encode, model = minilm
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts)

    first = evaluate_search(uca, queries, encode=counting, model=model, cache_dir=tmp_path)
    again = evaluate_search(uca, queries, encode=counting, model=model, cache_dir=tmp_path)
    assert calls == [31, 2, 2]  # the events once, the queries each time
    assert again.precision == first.precision
    evaluate_search(uca, queries, encode=counting, model="another model", cache_dir=tmp_path)
    uca.write_text(uca.read_text().replace("gasoline", "petrol"))
    evaluate_search(uca, queries, encode=counting, model=model, cache_dir=tmp_path)
    assert calls == [31, 2, 2, 31, 2, 31, 2]  # another model, another file: embedded again


def test_precision_and_bm25() -> None:
    assert precision_at(np.array([0.9, 0.1, 0.8, 0.2]), np.array([True, False, False, True]), k=2) == 0.5
    scores = lexical_scores(["two men are fighting", "a car burns", "they fight again and fight"], ["people fight"])
    assert scores[1, 0] == 0 and scores[2, 0] > scores[0, 0] > 0  # stemmed words; more of them, more relevant
    common = lexical_scores(["a car burns", "a fire in the shop"], ["a fire in the night"])
    assert common[0, 0] == 0 and common[1, 0] > 0  # common words match nothing, as in archive search


def test_files_are_read_with_their_categories(tmp_path: Path) -> None:
    uca, _ = write_tiny(tmp_path)
    events = load_uca(uca)
    assert events.categories[0] == "Fighting" and "Normal" in events.categories.tolist()
    assert events.starts[:3].tolist() == [0.0, 5.0, 10.0] and events.groups[:6].tolist() == [0] * 5 + [1]
    built_in = load_queries()
    assert len(built_in) == 13 and len({q.category for q in built_in}) == 13
    assert load_queries(QUERIES_FILE) == built_in and any(q.category == "Fighting" for q in built_in)
    for other in QUERIES_FILE.parent.glob("uca_queries_*.json"):  # the other phrasings: the same 13 categories
        assert [q.category for q in load_queries(other)] == [q.category for q in built_in]
    assert Query("people fighting", "Fighting") in load_queries(QUERIES_FILE.with_name("uca_queries_short.json"))


@pytest.mark.parametrize(
    ("uca_text", "queries_text", "error", "says"),
    [
        (None, None, InputNotFoundError, "does not exist"),
        ("{not json", None, UsageError, "is not JSON"),
        ('{"Fighting001": {"timestamps": [[0, 1]], "sentences": ["a", "b"]}}', None, UsageError, "as many"),
        ("[]", None, UsageError, "holds no videos"),
        ("TINY", '{"query": "x"}', UsageError, "holds no queries"),
        ("TINY", '[{"query": "people fighting"}]', UsageError, "is not a query"),
        ("TINY", '[{"query": "a car crash", "category": "RoadAccidents"}]', UsageError, "no video of category"),
    ],
)
def test_bad_input_is_one_clear_error_before_any_model_loads(
    tmp_path: Path, uca_text: str | None, queries_text: str | None, error: type, says: str
) -> None:
    uca, queries = write_tiny(tmp_path)
    if uca_text is None:
        uca.unlink()
    elif uca_text != "TINY":
        uca.write_text(uca_text)
    if queries_text is not None:
        queries.write_text(queries_text)

    def no_model(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("the model was asked before the input was checked")

    with pytest.raises(error, match=says):
        evaluate_search(uca, queries, encode=no_model, model="none", cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("breakage", "code", "says"),
    [("missing", 1, "does not exist"), ("json", 2, "is not JSON"), ("queries", 2, "is not a query")],
)
def test_cli_bad_input_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: str, code: int,
                                  says: str) -> None:  # fmt: skip
    uca, queries = write_tiny(tmp_path)
    if breakage == "missing":
        uca.unlink()
    elif breakage == "json":
        uca.write_text('{"Fighting001": ')
    else:
        queries.write_text(json.dumps([{"text": "people fighting", "category": "Fighting"}]))
    exit_code, out, err = in_process(capsys, ["eval", "search", "--uca", str(uca), "--queries", str(queries)])
    assert exit_code == code and out == ""
    assert err.count("\n") == 1 and says in err and err.startswith("veille: error: ")


def test_cli_prints_the_figures_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    uca, queries = write_tiny(tmp_path)
    exit_code, out, _ = in_process(capsys, ["eval", "search", "--uca", str(uca), "--queries", str(queries), "--json"])
    assert exit_code == 0
    data = json.loads(out)
    assert (data["videos"], data["events"], data["k"]) == (7, 31, 10)
    assert [q["query"] for q in data["queries"]] == ["people fighting", "someone sets a fire"]
    assert data["queries"][0]["precision"]["fused"] == 1.0 and set(data["mean"]) == set(METHODS)
    assert list((tmp_path / "cache" / "veille" / "eval").glob("uca-*.npy"))  # embedded once, kept
