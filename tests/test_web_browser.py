"""``veille serve`` in the system's Chromium, driven by Playwright: home, search, event, seeking the
video, a false-alarm mark kept across a reload, keyboard, live updates, zoom, and the phone layout.

Screenshots at 1280 and 390 px go to ``tests/artifacts/serve/`` (ignored by git) for a person to
look at. Without Chromium this fails; ``VEILLE_SKIP_BROWSER=1`` turns the failure into a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.archive_fixtures import write_report
from tests.cli_run import ROOT
from tests.web_fixtures import YARD, build_archive, open_archive
from veille.web.app import create_app

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "tests" / "artifacts" / "serve"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required"]  # fmt: skip


def _chromium() -> str:
    path = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if path is None:
        if os.environ.get("VEILLE_SKIP_BROWSER") == "1":
            pytest.skip("no Chromium on this machine, and VEILLE_SKIP_BROWSER=1 was set")
        pytest.fail("Chromium is needed for the browser tests (Debian: apt-get install chromium); "
                    "set VEILLE_SKIP_BROWSER=1 to skip them knowingly")  # fmt: skip
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_clip: tuple[Path, dict]) -> Iterator[tuple[str, Path]]:
    """A real server (uvicorn, in a thread, on a free loopback port) over the test archive."""
    import uvicorn

    out = build_archive(tmp_path_factory.mktemp("browser"), sample_clip[0])
    archive = open_archive(out)
    app = create_app(archive, loopback_hosts=True, refresh_s=0.5)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}", out
    finally:
        app.state.stopping.set()
        uv.should_exit = True
        thread.join(timeout=15)
        archive.store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], (page.url, width)


def test_search_open_an_event_seek_and_mark_a_false_alarm(browser: Any, server: tuple[str, Path]) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    assert page.locator(".video-card").count() == 3
    _shot(page, "home-1280")
    page.fill("header input[name=q]", "man pulls the back door handle")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/search?q=*")
    first = page.locator(".card.hit").first
    assert "Man tries the back door" in first.inner_text()
    assert first.locator("img.thumb").evaluate("img => img.complete && img.naturalWidth > 0")
    _shot(page, "search-1280")
    first.locator("a.card-title").click()
    page.wait_for_url(f"**/video/{YARD}/event/2")
    # The event page's player opens the analysed video at the event (20 s), read in byte ranges.
    at_event = "() => { const v = document.querySelector('#player'); return v && v.readyState >= 1 &&"
    at_event += " Math.abs(v.currentTime - 20) < 0.5; }"
    page.wait_for_function(at_event, timeout=20000)
    assert page.locator("#cannot-play").is_hidden()
    page.click("button[value=false_alarm]")
    page.wait_for_load_state()
    assert "false alarm" in page.locator("#review-mark").inner_text()
    page.reload()
    assert "false alarm" in page.locator("#review-mark").inner_text()
    _shot(page, "event-1280")
    page.goto(f"{base}/video/{YARD}")
    assert "false alarm" in page.locator("#ev-2").inner_text()
    page.close()


def test_the_video_page_seeks_on_click_and_keys(browser: Any, server: tuple[str, Path]) -> None:
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/video/{YARD}")
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=20000)
    page.click("#ev-1 .ev-title")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 10) < 0.5")
    page.keyboard.press("j")
    assert page.locator("#ev-2").get_attribute("class").split().count("current") == 1
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 20) < 0.5")
    page.keyboard.press("k")
    page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 10) < 0.5")
    assert page.evaluate("() => document.querySelector('#player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.querySelector('#player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#player').paused")
    width = lambda: float(page.get_attribute("#tl-svg", "viewBox").split()[2])  # noqa: E731
    whole = width()
    page.click("button[data-zoom=in]")
    assert width() == pytest.approx(whole / 2)
    page.click("button[data-zoom=reset]")
    assert width() == pytest.approx(whole)
    _shot(page, "video-1280")
    page.close()


def test_a_new_video_appears_without_a_reload(browser: Any, server: tuple[str, Path]) -> None:
    base, out = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    page.wait_for_timeout(500)  # the live stream is open
    page.evaluate("() => { window.notReloaded = true; }")
    write_report(out, "gate_live", [("Van at the gate", "A van stops at the gate.", 1)])
    page.wait_for_selector('.video-card[data-folder="gate_live"]', timeout=20000)
    assert page.evaluate("() => window.notReloaded === true") and page.locator("#live-note").is_visible()
    page.close()


def test_a_video_the_browser_cannot_play_falls_back_with_a_note(browser: Any, server: tuple[str, Path]) -> None:
    base, out = server
    broken = out.parent / "videos" / "broken_20240502_010000.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)  # not a video any codec plays
    write_report(out, "broken", [("Shadow at the door", "A shadow passes the door.", 1)], video=str(broken))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    deadline = time.monotonic() + 20
    while page.goto(f"{base}/video/broken").status != 200 and time.monotonic() < deadline:
        time.sleep(0.3)  # indexed by the next up-to-date check
    page.wait_for_selector("#cannot-play", state="visible", timeout=20000)
    assert page.locator("#player").is_hidden() and "cannot play" in page.locator("#cannot-play").inner_text()
    assert page.locator("#ev-0 .ev-link").is_visible()  # the event (clip, keyframes) is one click away
    page.close()


def test_a_phone_sees_every_page_without_sideways_scrolling(browser: Any, server: tuple[str, Path]) -> None:
    base, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)  # fmt: skip
    page = context.new_page()
    for name, url in (("home", "/"), ("video", f"/video/{YARD}"), ("event", f"/video/{YARD}/event/4"),
                      ("event-boxes", "/video/sample/event/0"),
                      ("search", "/search?q=van+at+the+gate"), ("ask", "/ask?q=who+was+at+the+gate")):  # fmt: skip
        page.goto(base + url)
        page.wait_for_load_state("load")
        _no_sideways_scroll(page)
        _shot(page, f"{name}-390")
    context.close()
