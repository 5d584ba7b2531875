"""An output folder for the ``veille serve`` tests: a motion-profile analysis of the sample clip, a
camera's report with keyframes, anomaly scores and a clip, and a report with hostile names, indexed
with the hash embedder; and the app over it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from tests.archive_fixtures import EVENTS, HashEmbedder, write_report
from tests.report_samples import HOSTILE_TITLE
from veille.archive.indexer import index_path, rebuild
from veille.archive.store import Store
from veille.cli import cli
from veille.web.archive import WebArchive

YARD = "yard_20240501_221500"
HOSTILE_FOLDER = "night<img src=x onerror=alert(1)>"
SECRET = "top secret, never served"
REASON = "A <b>van</b> at this hour is rare for this camera."


def _images(folder: Path, count: int) -> None:
    for i in range(count):
        Image.new("RGB", (64, 36), (40 * i % 255, 90, 160)).save(folder / "thumbs" / f"event{i:03d}_0.jpg")


def build_archive(root: Path, clip: Path) -> Path:
    """``root/out``: three report folders (``sample``, :data:`YARD`, :data:`HOSTILE_FOLDER`) and their index."""
    out = root / "out"
    done = CliRunner().invoke(cli, ["analyze", str(clip), "--profile", "motion", "--out", str(out), "-q"])
    assert done.exit_code == 0, done.output
    (root / "secret.txt").write_text(SECRET, encoding="utf-8")
    source = root / "videos" / f"{YARD}.mp4"
    source.parent.mkdir(exist_ok=True)
    shutil.copyfile(clip, source)
    folder = write_report(out, YARD, EVENTS, video=str(source), camera="yard", anomaly=[0.2, 0.4, 1.5, 0.1, 3.0])
    _images(folder, len(EVENTS))
    (folder / "clips").mkdir()
    shutil.copyfile(clip, folder / "clips" / "event000.mp4")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    report["events"][0]["clip"] = "clips/event000.mp4"
    report["events"][1]["clip"] = "../../secret.txt"  # a report that points outside its folder is not followed
    report["events"][3]["keyframes"][0]["image"] = "../../secret.txt"
    report["events"][3]["title"] = "Delivery at the gate"
    report["events"][4]["anomaly_reason"] = REASON
    report["models"] = {"describer": {"id": "org/describer<b>", "device": "cpu", "dtype": "int8"}, "reasoner": None}
    report["anomaly"]["curve"] = [[t / 5, (t % 50) / 10] for t in range(0, 5 * 48)]
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    hostile = write_report(out, HOSTILE_FOLDER, [(HOSTILE_TITLE, HOSTILE_TITLE + " <i>desc</i>", 2)])
    _images(hostile, 1)
    rebuild(out, HashEmbedder())
    return out


def open_archive(out: Path) -> WebArchive:
    """The web view of ``out``'s index (hash embedder, no reasoner)."""
    return WebArchive(out, Store(index_path(out), shared=True), HashEmbedder())
