"""report.html in a real browser: headless Chromium renders it (screenshot not blank, thumbnails
drawn) and its DOM holds every event title, the hostile ones as text."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tests.report_samples import HOSTILE_TITLE, TITLES, hostile_report
from veille.report.writers import write_all

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (CI installs Debian's `chromium` package)")
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    write_all(hostile_report(folder), folder, ["html"])
    return folder / "report.html"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_dom_holds_event_titles(page: Path, tmp_path: Path) -> None:
    proc = _chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = _Text()
    parser.feed(proc.stdout)
    text = "".join(parser.text)
    for title in TITLES:
        assert title in text
    assert HOSTILE_TITLE in text and "script" not in parser.tags
    assert parser.tags.count("img") == 6


def test_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = _chromium(page.as_uri(), tmp_path / "profile", "--window-size=1000,2200", f"--screenshot={shot}")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.std() > 20, "the screenshot is blank"
    assert len(np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0)) > 200
    ground = (np.abs(pixels - np.array([90, 100, 96])).max(axis=2) < 10).sum()
    assert ground > 20_000, "the keyframe thumbnails were not drawn"
    critical = (np.abs(pixels - np.array([0xD9, 0x3B, 0x3B])).max(axis=2) < 6).sum()
    assert critical > 500, "no critical-threat colour on the page"
