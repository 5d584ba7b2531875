"""Review marks: set through the page (with its secret), shown everywhere, kept across re-index and
rebuild, exported as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.archive_fixtures import HashEmbedder
from tests.web_fixtures import YARD, build_archive, open_archive
from veille.archive.indexer import rebuild
from veille.cli import cli
from veille.web.app import create_app


@pytest.fixture
def out(tmp_path: Path, sample_clip: tuple[Path, dict]) -> Path:
    return build_archive(tmp_path, sample_clip[0])


def _client(out: Path) -> TestClient:
    archive = open_archive(out)
    return TestClient(create_app(archive, refresh_s=None), raise_server_exceptions=False)


def _mark(client: TestClient, folder: str, number: int, mark: str, note: str = "", csrf: str | None = None):
    secret = client.app.state.csrf if csrf is None else csrf  # type: ignore[attr-defined]
    return client.post(f"/video/{folder}/event/{number}/review", data={"csrf": secret, "mark": mark, "note": note},
                       follow_redirects=False)  # fmt: skip


def _export(out: Path, fmt: str) -> str:
    done = CliRunner().invoke(cli, ["review", "export", "--format", fmt, str(out)])
    assert done.exit_code == 0, done.output
    return done.output


def test_a_mark_is_shown_everywhere_and_survives_reindex_and_rebuild(out: Path) -> None:
    client = _client(out)
    done = _mark(client, YARD, 2, "false_alarm")
    assert done.status_code == 303 and done.headers["location"] == f"/video/{YARD}/event/2"
    assert _mark(client, YARD, 4, "note", "checked with the guard: <b>bin fire</b> drill").status_code == 303
    assert _mark(client, "sample", 0, "confirmed").status_code == 303

    def shown() -> None:
        event = client.get(f"/video/{YARD}/event/2").text
        assert 'data-mark="false_alarm"' in event.split('id="review-mark"')[1][:300]
        video = client.get(f"/video/{YARD}").text
        assert re.search(r'id="ev-2".*?data-mark="false_alarm"', video, flags=re.S)
        assert "bin fire" in video and "<b>bin fire" not in video
        home = client.get("/").text
        assert "1 false alarm" in home and "1 note" in home and "1 confirmed" in home
        assert 'data-mark="false_alarm"' in client.get("/search?q=man+back+door").text
        assert 'data-mark="false_alarm"' in client.get("/ask?q=man+back+door").text

    shown()
    report = out / YARD / "report.json"
    report.write_text(report.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # re-analysed: indexed again
    stat = report.stat()
    os.utime(report, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    archive = client.app.state.archive  # type: ignore[attr-defined]
    assert archive.refresh() is True
    shown()
    archive.store.close()
    rebuild(out, HashEmbedder())  # `veille index`: a whole new index file
    client = _client(out)
    shown()
    rows = json.loads(_export(out, "json"))
    assert {(r["folder"], r["number"], r["mark"]) for r in rows} == {
        (YARD, 2, "false_alarm"), (YARD, 4, "note"), ("sample", 0, "confirmed")}  # fmt: skip
    note = next(r for r in rows if r["mark"] == "note")
    assert note["note"] == "checked with the guard: <b>bin fire</b> drill" and note["camera"] == "yard"
    assert note["indexed"] is True and note["title"] == "Fire in the bin" and note["start_s"] == 40.0
    table = list(csv.DictReader(io.StringIO(_export(out, "csv"))))
    assert sorted((r["folder"], r["number"], r["mark"]) for r in table) == sorted(
        (r["folder"], str(r["number"]), r["mark"]) for r in rows)  # fmt: skip


def test_a_rebuild_while_serving_is_followed(out: Path) -> None:
    client = _client(out)
    _mark(client, YARD, 1, "confirmed")
    rebuild(out, HashEmbedder())  # `veille index` while the server runs: a new file in place of the one it has open
    assert _mark(client, YARD, 2, "false_alarm").status_code == 303  # written to the new file, not the replaced one
    assert client.app.state.archive.refresh() is True  # type: ignore[attr-defined]
    marks = [(r["number"], r["mark"]) for r in json.loads(_export(out, "json"))]
    assert marks == [(1, "confirmed"), (2, "false_alarm")]
    assert 'data-mark="false_alarm"' in client.get(f"/video/{YARD}/event/2").text


def test_a_cleared_mark_is_gone_and_a_changed_one_replaced(out: Path) -> None:
    client = _client(out)
    _mark(client, YARD, 2, "false_alarm")
    _mark(client, YARD, 2, "confirmed")
    assert [r["mark"] for r in json.loads(_export(out, "json"))] == ["confirmed"]
    _mark(client, YARD, 2, "")
    assert json.loads(_export(out, "json")) == []
    assert "data-mark" not in client.get(f"/video/{YARD}/event/2").text


def test_marks_of_a_video_gone_from_the_archive_are_kept(out: Path) -> None:
    import shutil

    client = _client(out)
    _mark(client, YARD, 3, "false_alarm")
    shutil.rmtree(out / YARD)
    assert client.app.state.archive.refresh() is True  # type: ignore[attr-defined]
    assert client.get(f"/video/{YARD}").status_code == 404
    rows = json.loads(_export(out, "json"))
    assert [(r["folder"], r["number"], r["mark"], r["indexed"]) for r in rows] == [(YARD, 3, "false_alarm", False)]


def test_bad_marks_are_refused_with_a_reason(out: Path) -> None:
    client = _client(out)
    assert _mark(client, YARD, 2, "false_alarm", csrf="guess").status_code == 403
    assert client.post(f"/video/{YARD}/event/2/review", data={"mark": "confirmed"}).status_code == 403
    unknown = _mark(client, YARD, 2, "maybe")
    assert unknown.status_code == 400 and "unknown mark" in unknown.text
    assert _mark(client, YARD, 2, "note", "   ").status_code == 400
    assert _mark(client, YARD, 77, "confirmed").status_code == 404
    assert _mark(client, "..%2F..", 0, "confirmed").status_code == 404
    assert client.get(f"/video/{YARD}/event/2/review").status_code == 405
    assert json.loads(_export(out, "json")) == []
    answer = client.post(f"/video/{YARD}/event/2/review", data={"csrf": client.app.state.csrf, "mark": "confirmed"},  # type: ignore[attr-defined]
                         headers={"accept": "application/json"})  # fmt: skip
    assert answer.json()["mark"] == "confirmed"


def test_export_of_a_folder_without_an_index_says_what_to_do(tmp_path: Path) -> None:
    from tests.cli_run import veille

    done = veille("review", "export", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.code == 2 and "is not a folder" in done.err and "Traceback" not in done.err
    assert done.out == "" and len(done.err.strip().splitlines()) == 1
