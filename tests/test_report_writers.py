"""Writers: HTML, Markdown, SRT and WebVTT from a report holding hostile strings."""

from __future__ import annotations

import html as html_lib
import re
import string
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.report_samples import HOSTILE_NAME, HOSTILE_TITLE, TITLES, hostile_report
from veille.report.html import render_html
from veille.report.text import md_escape, render_markdown, render_subtitles
from veille.report.writers import write_all


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("report")
    return folder, hostile_report(folder)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_write_all_writes_every_format(report_dir) -> None:
    folder, report = report_dir
    paths = write_all(report, folder, ["html", "md", "srt", "vtt", "html"])
    assert [p.name for p in paths] == ["report.json", "report.html", "report.md", "events.srt", "events.vtt"]
    assert all(p.stat().st_size > 0 for p in paths)
    for event in report.events:
        assert event.keyframes and all((folder / k.image).is_file() for k in event.keyframes)


def test_html_escapes_hostile_strings_and_has_no_foreign_tags(report_dir) -> None:
    _, report = report_dir
    html = render_html(report)
    parsed = _parse(html)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "u" not in tags and "i" not in tags and "b" not in tags
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href") and value:
                assert not value.startswith(("http", "javascript", "//")), value
    text = "".join(parsed.text)
    assert HOSTILE_NAME in text and HOSTILE_TITLE in text  # shown literally, as text
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_html_shows_events_timeline_thumbs_stats(report_dir) -> None:
    _, report = report_dir
    parsed = _parse(render_html(report))
    text = "".join(parsed.text)
    for title in TITLES:
        assert title in text
    imgs = [a["src"] for t, a in parsed.tags if t == "img"]
    assert imgs == [k.image for e in report.events for k in e.keyframes]
    bars = [a for t, a in parsed.tags if t == "a" and "ev" in (a.get("class") or "").split()]
    assert len(bars) == 3
    lefts = [float(re.search(r"left:([\d.]+)%", b["style"]).group(1)) for b in bars]
    assert lefts == pytest.approx([100 * 5 / 120, 100 * 40 / 120, 100 * 90 / 120], abs=0.01)
    colors = [re.search(r"background:(#\w+)", b["style"]).group(1) for b in bars]
    assert len(set(colors)) == 3  # coloured by threat
    for label in ("normal", "suspicious", "critical", "00:05 – 00:17", "80%", "frames decoded", "600"):
        assert label in text
    assert not any(a.get("href", "").startswith("clips/") for _, a in parsed.tags)  # no clips were cut


def test_html_in_french(report_dir) -> None:
    _, report = report_dir
    text = "".join(_parse(render_html(report, "fr")).text)
    assert "Chronologie" in text and "critique" in text and "images décodées" in text
    assert 'lang="fr"' in render_html(report, "fr")


def test_html_links_clips(report_dir) -> None:
    _, report = report_dir
    clipped = report.model_copy(
        update={"events": [e.model_copy(update={"clip": f"clips/event{e.id:03d}.mp4"}) for e in report.events]}
    )
    hrefs = [a["href"] for t, a in _parse(render_html(clipped)).tags if t == "a"]
    assert [h for h in hrefs if h.startswith("clips/")] == [
        "clips/event000.mp4",
        "clips/event001.mp4",
        "clips/event002.mp4",
    ]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<script>", "&lt;script>"),
        ("*x* _y_ `z`", r"\*x\* \_y\_ \`z\`"),
        ("[a](javascript:b)", r"\[a\](javascript:b)"),
        ("# title", r"\# title"),
        ("a | b", r"a \| b"),
        ("a\n\nb", "a b"),
        ("AT&T &copy;", "AT&T &amp;copy;"),
        # what needs no escaping stays as it is
        ("Test003.mp4", "Test003.mp4"),
        ("1 stretch (left) in 0.3 s - then #2 + more!", "1 stretch (left) in 0.3 s - then #2 + more!"),
        ("snake_case_name.mp4", "snake_case_name.mp4"),
        # line starts that would become a list, a quote or a heading
        ("2024. A year", r"2024\. A year"),
        ("- item", r"\- item"),
        ("> quoted", r"\> quoted"),
        ("Title ##", r"Title \##"),
    ],
)
def test_md_escape(raw: str, escaped: str) -> None:
    assert md_escape(raw) == escaped


_MD_TOKENS = [
    *("~", "~~", "|", "-", "---", "\n", " ", "  ", "1.", "2)", "#", "##", ">", "*", "**", "_", "__", "`", "```"),
    *("[", "]", "](", "(", ")", "![", "<", "<b>", "&", "&copy;", "&#60;", "=", "===", "+", "\\", ":"),
]
_MD_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_MD_TOKENS),
        st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \néà", max_size=4),
    ),
    max_size=24,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MD_TEXT)
def test_md_escape_is_read_back_literally(text: str) -> None:
    """CommonMark with GFM tables and strikethrough shows the escaped text exactly as it was."""
    markdown_it = pytest.importorskip("markdown_it")
    renderer = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for escaped, expected in (
        (md_escape(text), " ".join(text.split())),
        (md_escape(text, inline=False), "\n".join(line.strip() for line in text.splitlines())),
    ):
        html = renderer.render(escaped)
        tags = {tag for tag, _ in _parse(html).tags}
        assert tags <= {"p"}, (escaped, html)
        shown = "\n".join(html_lib.unescape(part) for part in re.findall(r"<p>(.*?)</p>", html, flags=re.S))
        assert [line for line in shown.split("\n") if line] == [line for line in expected.split("\n") if line]


def test_markdown_report(report_dir) -> None:
    _, report = report_dir
    md = render_markdown(report)
    assert "<script>" not in md and "<img src=x" not in md and "<b>" not in md and "<u>" not in md
    assert r"\[link\](javascript:alert(1))" in md and "(1)" in md
    assert md.count("\n### ") == 3 and "**critical**" in md
    assert "](<thumbs/event000_0_" in md
    assert md.startswith("# Video analysis — ")
    assert "# Analyse vidéo" in render_markdown(report, "fr")


def _cues(text: str) -> list[list[str]]:
    return [block.splitlines() for block in text.strip().split("\n\n")]


def test_srt_one_cue_per_event(report_dir) -> None:
    _, report = report_dir
    cues = _cues(render_subtitles(report))
    assert len(cues) == 3
    assert cues[0][:2] == ["1", "00:00:05,000 --> 00:00:17,500"]
    assert cues[0][2] == "[normal] Person tries the back door — Event 0 seen near the door."
    hostile = cues[1]
    assert len(hostile) == 3 and hostile[2].startswith("[critical] ")
    assert "-->" not in hostile[2] and "<" not in hostile[2] and "{" not in hostile[2]


def test_vtt_escapes_and_times(report_dir) -> None:
    _, report = report_dir
    text = render_subtitles(report, vtt=True)
    assert text.startswith("WEBVTT\n\n")
    cues = _cues(text)[1:]
    assert len(cues) == 3 and cues[2][1] == "00:01:30.000 --> 00:01:42.500"
    assert "&lt;script&gt;" in cues[1][2] and "-->" not in cues[1][2] and "<" not in cues[1][2]
    assert "[suspect] " in render_subtitles(report, "fr", vtt=True)


def test_boxes_are_drawn_with_labels() -> None:
    import numpy as np

    from veille.report.evidence import draw_boxes
    from veille.types import Box

    image = np.zeros((200, 300, 3), np.uint8)
    motion = draw_boxes(image, [Box("motion", (50, 60, 150, 160))])
    assert image.sum() == 0  # the input is not changed
    assert motion[60, 100].any() and motion[110, 50].any() and not motion[110, 100].any()
    assert not motion[40:58, 50:150].any()  # motion boxes carry no label
    person = draw_boxes(image, [Box("<person>", (50, 60, 150, 160))])
    assert person[40:58, 50:100].any()  # a label tag above the box
    edge = draw_boxes(image, [Box("car", (0, 0, 299, 199))])
    assert edge[2:15, 2:30].any()  # a box at the top edge keeps its label inside the image


def test_warnings_come_before_the_summary_and_statistics(report_dir) -> None:
    _, report = report_dir
    html = render_html(report)
    warning = html.index("context was &lt;i&gt;ignored&lt;/i&gt;")
    assert warning < html.index("Someone &lt;u&gt;tried") < html.index("frames decoded")
    md = render_markdown(report)
    assert md.index("## Warnings") < md.index("## Summary") < md.index("## Statistics")


def test_download_time_is_reported_apart(report_dir) -> None:
    _, report = report_dir
    assert "model downloads" not in render_html(report) and "model downloads" not in render_markdown(report)
    waited = report.model_copy(update={"stats": report.stats.model_copy(update={"download_s": 16.25})})
    assert "model downloads (not in the analysis time)</td><td class=\"n\">16.2 s" in render_html(waited)
    assert "| model downloads (not in the analysis time) | 16.2 s |" in render_markdown(waited)
    assert "hors temps d'analyse" in render_markdown(waited, "fr")
