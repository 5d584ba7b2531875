"""``veille analyze`` then ``veille search``, ``ask`` and ``index`` on one output folder, as a person runs them."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import in_process
from veille.archive.ask import CITATION, seconds
from veille.archive.store import Store
from veille.backends.fake import FakeBackend
from veille.models import manager
from veille.sample import make_sample

WALKER = "A person walks along the fence carrying a bag."
CAR = "A white car parks beside the gate and its lights go off."


def _main(argv: list[str]) -> int:
    from veille.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _fake_models(mp: pytest.MonkeyPatch, folder: Path, *, describer: str = "", answer: Any = "") -> list[str]:
    """The analysis flags of fake models: every backend the manager builds is a scripted fake."""

    def factory(role: str, path: Path, options: Any, **kwargs: Any) -> FakeBackend:
        return FakeBackend(f"fake-{role}", default=describer if role == "describer" else answer)

    mp.setattr(manager, "_default_factory", factory)
    for name in ("vlm", "llm"):
        (folder / f"fake-{name}").mkdir(exist_ok=True)
    return ["--vlm", str(folder / "fake-vlm"), "--offline"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two synthetic videos analysed into one folder (a fake describer writes what each shows), no search yet."""
    root = tmp_path_factory.mktemp("archive-cli")
    out = root / "out"
    for name, text in (("yard_20240501_221500", WALKER), ("gate_20240502_080000", CAR)):
        video = root / f"{name}.mp4"
        make_sample(video, seconds=14)
        with pytest.MonkeyPatch.context() as mp:
            flags = _fake_models(mp, root, describer=text)
            code = _main(["analyze", str(video), "--out", str(out), "--llm", "none", "-q", *flags])
        assert code == 0
    yield out


@pytest.fixture(scope="module")
def indexed(analysed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the analysed folder whose index is made and embedded."""
    out = tmp_path_factory.mktemp("indexed") / "out"
    shutil.copytree(analysed, out)
    assert _main(["index", str(out), "-q"]) == 0
    return out


def _events(out: Path) -> tuple[int, int]:
    with Store(out / "archive.sqlite") as store:
        return store.count("events"), store.count("embeddings")


def test_analyze_indexes_each_report_and_search_ranks_them(analysed: Path, capsys: pytest.CaptureFixture) -> None:
    out = analysed
    events, embedded = _events(out)
    assert events >= 2 and embedded == 0  # rows as each report was written; no model loaded by the analysis
    code, text, err = in_process(capsys, ["search", "person walking", "--out", str(out), "--json"])
    assert code == 0, err
    hits = json.loads(text)
    assert {"video", "start_s", "end_s", "title", "score", "description", "threat", "thumbnail"} <= set(hits[0])
    assert hits[0]["video"] == "yard_20240501_221500" and WALKER in hits[0]["description"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert {h["video"] for h in hits} == {"yard_20240501_221500", "gate_20240502_080000"}
    assert all(Path(h["thumbnail"]).is_file() for h in hits)
    assert hits[0]["when"].startswith("2024-05-01T22:15") and hits[0]["camera"] == "yard"
    assert _events(out) == (events, events)  # the search embedded what the analyses indexed
    code, text, _ = in_process(capsys, ["search", "a vehicle parking", "--out", str(out), "--limit", "1"])
    assert code == 0 and text.splitlines()[0].split()[1] == "gate_20240502_080000"
    assert re.search(r"gate_20240502_080000 @ \d\d:\d\d–\d\d:\d\d  2024-05-02 08:\d\d:\d\d  camera gate", text)


def test_index_rebuilds_the_same_index_from_the_reports_alone(
    analysed: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(analysed, out)
    code, before, _ = in_process(capsys, ["search", "car", "--out", str(out), "--json"])
    assert code == 0
    (out / "archive.sqlite").unlink()
    code, said, err = in_process(capsys, ["index", str(out)])
    assert code == 0, err
    events = _events(out)[0]
    assert re.fullmatch(rf"indexed 2 videos, {events} events \({events} embedded with \S+MiniLM-L6-v2\) in .*\n", said)
    code, after, _ = in_process(capsys, ["search", "car", "--out", str(out), "--json"])
    assert code == 0 and json.loads(after) == json.loads(before)


def _answer_citing_the_first_event(prompt: str) -> str:
    first = CITATION.search(prompt)
    assert first is not None, prompt
    return f"Someone walked along the fence {first.group(0)}, then [ghost @ 00:05] and [{first.group(1)} @ 59:00] too."


def test_ask_keeps_the_citations_of_indexed_events_only(
    analysed: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_models(monkeypatch, tmp_path, answer=_answer_citing_the_first_event)
    llm = ["--llm", str(tmp_path / "fake-llm"), "--offline"]
    code, text, err = in_process(capsys, ["ask", "who walked by the fence?", "--out", str(analysed), *llm, "--json"])
    assert code == 0, err
    data = json.loads(text)
    assert data["model"] == "fake-reasoner" and data["note"] is None
    assert data["dropped"] == ["[ghost @ 00:05]", "[yard_20240501_221500 @ 59:00]"]
    cited = data["citations"]
    assert len(cited) == 1 and cited[0]["video"] == "yard_20240501_221500" and WALKER in cited[0]["description"]
    assert "ghost" not in data["answer"] and "59:00" not in data["answer"]
    assert [m.group(1) for m in CITATION.finditer(data["answer"])] == ["yard_20240501_221500"]
    at = seconds(CITATION.search(data["answer"]).group(2))
    assert cited[0]["start_s"] - 1 <= at <= cited[0]["end_s"] + 1
    code, text, _ = in_process(capsys, ["ask", "who walked by the fence?", "--out", str(analysed), *llm])
    assert code == 0 and "\nSources:\n  [yard_20240501_221500 @ " in text
    assert "2 citations dropped (no such event in the index): [ghost @ 00:05] [yard_20240501_221500 @ 59:00]" in text


def test_ask_with_the_tiny_reasoner_answers_with_checked_citations(
    analysed: Path, tiny_models: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    argv = ["ask", "was a car at the gate?", "--out", str(analysed), "--llm", str(tiny_models["phi"]), "--offline"]
    code, text, err = in_process(capsys, [*argv, "--device", "cpu", "--json"])
    assert code == 0, err
    data = json.loads(text)
    assert data["model"] == str(tiny_models["phi"]) and isinstance(data["answer"], str) and data["note"] is None
    with Store(analysed / "archive.sqlite") as store:
        folders = {row[0] for row in store.conn.execute("SELECT folder FROM videos")}
    assert all(m.group(1) in folders for m in CITATION.finditer(data["answer"]))  # a random model cites nothing real
    assert data["events"] and data["events"][0]["video"] == "gate_20240502_080000"


def test_ask_without_a_reasoner_prints_the_events_with_a_note(analysed: Path, capsys: pytest.CaptureFixture) -> None:
    code, text, err = in_process(capsys, ["ask", "was a car at the gate?", "--out", str(analysed), "--llm", "none"])
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == "no reasoner model was available: none is set (--llm none?)."
    assert lines[1] == "The events that match best:" and "gate_20240502_080000 @ " in lines[2]
    code, text, _ = in_process(capsys, ["ask", "a car?", "--out", str(analysed), "--llm", "none", "--json"])
    data = json.loads(text)
    assert code == 0 and data["answer"] is None and data["citations"] == [] and data["events"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "x", "--out", "{empty}"], "holds no index and no report; run `veille analyze VIDEO --out"),
        (["search", "x", "--out", "{missing}"], "is not a folder; give the --out folder"),
        (["index", "{empty}"], "holds no index and no report"),
        (["search", "x", "--out", "{out}", "--since", "last tuesday"], "--since 'last tuesday': give a date"),
        (["search", "x", "--out", "{out}", "--since", "2024-05-03", "--until", "2024-05-01"], "is after --until"),
        (["search", "x", "--out", "{out}", "--camera", "attic"], "unknown camera 'attic'; the cameras in the"),
        (["search", "  ", "--out", "{out}"], "the query is empty"),
        (["search", "x", "--out", "{out}", "--embedder", "{other}"], "was embedded with sentence-transformers/all-Mi"),
        (["ask", "x", "--out", "{out}", "--since", "soon"], "--since 'soon': give a date"),
    ],
)
def test_bad_inputs_are_one_line_and_a_non_zero_exit(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other-model"
    other.mkdir()
    names = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "out": indexed, "other": other}
    code, text, err = in_process(capsys, [a.format(**{k: str(v) for k, v in names.items()}) for a in argv])
    assert code == 2 and text == ""
    assert err.count("\n") == 1 and err.startswith("veille: error: ") and message in err, err


def test_ask_says_once_why_the_reasoner_could_not_be_had(indexed: Path, capsys: pytest.CaptureFixture) -> None:
    code, text, err = in_process(capsys, ["ask", "a car?", "--out", str(indexed), "--offline", "--limit", "1"])
    assert code == 0 and err == ""  # the reason is in the note, not also in a warning
    assert text.startswith("no reasoner model was available: reasoner 'phi-2' is unavailable (phi-2 is not in the")
    assert "`veille models download phi-2`" in text and "gate_20240502_080000 @ " in text


def test_an_index_of_another_version_is_rebuilt_by_the_next_search(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    shutil.copytree(indexed, out)
    with Store(out / "archive.sqlite") as store, store.transaction():
        store.set_meta("store_version", "0")
        store.conn.execute("DROP TABLE tokens")
    code, text, err = in_process(capsys, ["search", "car", "--out", str(out), "--limit", "1"])
    assert code == 0 and "gate_20240502_080000" in text
    assert "is from another version of veille; rebuilding it from the reports" in err
    with Store(out / "archive.sqlite") as store:
        assert store.meta("store_version") == "1" and store.count("embeddings") == store.count("events") > 0
