"""``veille serve`` in process (Starlette's TestClient): pages, byte ranges, traversal, escaping, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.report_samples import HOSTILE_TITLE
from tests.web_fixtures import HOSTILE_FOLDER, REASON, SECRET, YARD, build_archive, open_archive
from veille.web.app import create_app
from veille.web.archive import WebArchive
from veille.web.labels import same_keys


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, sample_clip: tuple[Path, dict]) -> Path:
    return build_archive(tmp_path_factory.mktemp("serve"), sample_clip[0])


@pytest.fixture
def archive(out: Path) -> Iterator[WebArchive]:
    archive = open_archive(out)
    yield archive
    archive.store.close()


@pytest.fixture
def client(archive: WebArchive) -> TestClient:
    return TestClient(create_app(archive, refresh_s=None), raise_server_exceptions=False)


def _cards(html: str) -> list[str]:
    return re.findall(r'class="card video-card" data-folder="([^"]*)"', html)


def test_home_lists_the_videos_newest_first_with_their_counts(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert _cards(page.text) == ["night&lt;img src=x onerror=alert(1)&gt;", "sample", YARD]
    yard = page.text[page.text.index(f'data-folder="{YARD}"') :]
    assert "5 events" in yard[:1500] and "critical" in yard[:1500] and "most unusual 3.00" in yard[:1500]
    assert "yard" in _cards(client.get("/?camera=yard").text)[0]
    assert _cards(client.get("/?camera=yard").text) == [YARD]
    assert _cards(client.get("/?date=2024-05-01").text) == [YARD]
    assert _cards(client.get("/?threat=2").text) == ["night&lt;img src=x onerror=alert(1)&gt;", YARD]
    partial = client.get("/?partial=1&threat=2").text
    assert "<html" not in partial and len(_cards(partial)) == 2
    assert client.get("/?threat=9").status_code == 400 and client.get("/?date=yesterday").status_code == 400


def test_the_video_page_draws_the_timeline_and_lists_the_events(client: TestClient) -> None:
    page = client.get(f"/video/{YARD}").text
    rects = re.findall(r'<a class="tl-ev" href="#ev-(\d+)"[^>]*><rect class="threat-(\d)"', page)
    assert rects == [("0", "0"), ("1", "0"), ("2", "1"), ("3", "1"), ("4", "2")]
    assert '<polyline class="tl-curve"' in page and 'class="tl-threshold"' in page
    assert re.findall(r'<li id="ev-\d+" data-start="([\d.]+)"', page) == ["0.0", "10.0", "20.0", "30.0", "40.0"]
    assert f'src="/media/{YARD}/video"' in page
    motion = client.get("/video/sample").text
    assert motion.count('class="tl-seg"') >= 1 and "tl-curve" not in motion.split("<svg", 1)[1].split("</svg>")[0]


def test_the_event_page_shows_keyframes_with_boxes_clip_reason_and_models(client: TestClient, out: Path) -> None:
    page = client.get("/video/sample/event/0").text
    assert page.count('<rect class="box"') >= 4 and "Movement from" in page
    assert 'data-seek="' in page and "/media/sample/event/0/frame/3" in page
    yard = client.get(f"/video/{YARD}/event/0").text
    assert f"/media/{YARD}/event/0/clip" in yard
    assert client.get(f"/media/{YARD}/event/0/clip").content == (out / YARD / "clips" / "event000.mp4").read_bytes()
    last = client.get(f"/video/{YARD}/event/4").text
    assert "A &lt;b&gt;van&lt;/b&gt; at this hour" in last and REASON not in last
    assert 'rel="prev"' in last and 'rel="next"' not in last
    assert "<li>describer: org/describer&lt;b&gt;</li>" in last


def test_the_video_is_served_in_byte_ranges(client: TestClient, sample_clip: tuple[Path, dict]) -> None:
    data = sample_clip[0].read_bytes()
    whole = client.get("/media/sample/video")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = client.get("/media/sample/video", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get("/media/sample/video", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    assert client.get("/media/sample/video", headers={"Range": f"bytes={len(data) + 10}-"}).status_code == 416


@pytest.mark.parametrize(
    "url",
    [
        "/media/..%2F..%2Fsecret.txt/video",
        "/media/%2E%2E/video",
        "/media/%2Fetc%2Fpasswd/video",
        "/media//etc/passwd/video",
        "/media/../secret.txt",
        "/media/sample/../../secret.txt",
        "/video/..%2F..%2Fsecret.txt",
        "/video/%252E%252E%252Fsecret.txt",
        "/static/..%2F..%2F..%2Fsecret.txt",
        "/static/%2E%2E/%2E%2E/%2E%2E/secret.txt",
        f"/media/{YARD}/event/1/clip",  # the report's clip points outside its folder
        f"/media/{YARD}/event/3/frame/0",  # so does a keyframe
        f"/media/{YARD}/event/0/frame/9",
        f"/media/{YARD}/event/99/frame/0",
    ],
)
def test_no_path_comes_from_the_url(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code in (404, 400), (url, answer.status_code)
    assert SECRET not in answer.text and "root:" not in answer.text


def test_names_and_model_text_are_escaped_everywhere(client: TestClient) -> None:
    from urllib.parse import quote

    folder = quote(HOSTILE_FOLDER, safe="")
    pages = ["/", f"/video/{folder}", f"/video/{folder}/event/0", "/search?q=script+alert", "/ask?q=script+alert"]
    pages.append("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<i>desc" not in page.text, url
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in client.get("/search?q=script+alert").text
    assert "&lt;script&gt;" in client.get(f"/video/{quote(HOSTILE_FOLDER, safe='')}/event/0").text
    assert HOSTILE_TITLE not in client.get("/").text
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"


def test_search_shows_hits_with_thumbnails_and_ask_links_its_citations(client: TestClient) -> None:
    page = client.get("/search?q=man+back+door+handle").text
    first = page.index('class="card hit"')
    assert "Man tries the back door" in page[first : first + 1200]
    assert f"/media/{YARD}/event/2/frame/0" in page[first : first + 1200]
    ask = client.get("/ask?q=who+tried+the+back+door").text
    assert re.search(rf'<a class="citation" href="/video/{YARD}/event/2">\[{YARD} @ 00:20\]</a>', ask)


def test_ask_keeps_the_reasoners_checked_citations_only(archive: WebArchive) -> None:
    from veille.archive.ask import check_citations

    def reasoner(question: str, hits: list, store: object) -> tuple:
        text = f"A man pulled the handle [{YARD} @ 00:21]. A bear came [{YARD} @ 09:00]."
        return check_citations(text, archive.store), "fake/reasoner", None

    archive.reasoner = reasoner
    client = TestClient(create_app(archive, refresh_s=None))
    page = client.get("/ask?q=back+door").text
    assert f'<a class="citation" href="/video/{YARD}/event/2">[{YARD} @ 00:21]</a>' in page
    assert f"[{YARD} @ 09:00]" in page.split('id="answer-text"')[1].split("</section>")[0]  # listed as dropped
    assert "A bear came." in page and "fake/reasoner" in page


def test_errors_are_pages_without_details(archive: WebArchive, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(archive, refresh_s=None), raise_server_exceptions=False)
    missing = client.get("/video/nothing-here")
    assert missing.status_code == 404 and "no such video" in missing.text
    monkeypatch.setattr(archive, "videos", lambda: (_ for _ in ()).throw(RuntimeError("db password=hunter2")))
    broken = client.get("/")
    assert broken.status_code == 500 and "went wrong" in broken.text
    assert "hunter2" not in broken.text and "Traceback" not in broken.text and "RuntimeError" not in broken.text


def test_french_pages(archive: WebArchive) -> None:
    assert same_keys()
    page = TestClient(create_app(archive, lang="fr", refresh_s=None)).get(f"/video/{YARD}").text
    assert '<html lang="fr">' in page and "Événements" in page and "critique" in page and "Vidéo entière" in page


def test_refresh_brings_new_reports_in(archive: WebArchive, out: Path, tmp_path: Path) -> None:
    import shutil

    from tests.archive_fixtures import write_report

    client = TestClient(create_app(archive, refresh_s=None))
    before = archive.generation
    assert archive.refresh() is False
    write_report(out, "late_arrival", [("Cat on the wall", "A cat walks along the wall.", 0)])
    try:
        assert archive.refresh() is True and archive.generation != before
        assert "late_arrival" in _cards(client.get("/?partial=1").text)
    finally:
        shutil.rmtree(out / "late_arrival")
        archive.refresh()


def test_ask_with_a_reasoner_given_to_serve(archive: WebArchive, tiny_models: dict[str, Path]) -> None:
    from veille.web.commands import _reasoner

    assert _reasoner("none", None) is None and _reasoner(None, None) is None
    archive.reasoner = _reasoner(str(tiny_models["phi"]), None)
    page = TestClient(create_app(archive, refresh_s=None)).get("/ask?q=who+tried+the+back+door").text
    assert str(tiny_models["phi"]) in page and "No reasoner model" not in page  # the model answered (randomly)
    assert 'id="answer-text"' in page and "<script>alert" not in page
