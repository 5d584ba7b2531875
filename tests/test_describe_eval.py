"""``veille eval describe``: UCA-format annotations, the describer's text per layout, scores and cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import in_process
from veille.analysis.describe_eval import (
    LayoutScore,
    Stretch,
    _summarise,
    format_describe_scores,
    read_annotations,
    word_overlap,
)
from veille.errors import InputNotFoundError, UsageError


def test_word_overlap_counts_content_words_only() -> None:
    assert word_overlap("A man in a red jacket walks to the door.", "The man walks towards the door") == pytest.approx(
        2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    )
    assert word_overlap("The and of", "the and of") == 0.0 and word_overlap("", "a man") == 0.0


def test_annotations_are_read_and_bad_files_named(tmp_path: Path) -> None:
    good = tmp_path / "uca.json"
    good.write_text(json.dumps({"v1": {"duration": 9, "timestamps": [[1, 3], [4, 8.5]], "sentences": ["a", " b "]}}))
    assert read_annotations(good) == [Stretch("v1", 1.0, 3.0, "a"), Stretch("v1", 4.0, 8.5, "b")]
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read_annotations(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    for text, what in (("{", "not JSON"), ('{"v": {"timestamps": [[1, 2]], "sentences": []}}', "as many")):
        bad.write_text(text)
        with pytest.raises(UsageError, match=what):
            read_annotations(bad)
    bad.write_text('{"v": {"timestamps": [[5, 2]], "sentences": ["x"]}}')
    with pytest.raises(UsageError, match=r"\[start_s, end_s\]"):
        read_annotations(bad)


class UnitEmbedder:
    """Texts as fixed unit vectors: 'man' texts point one way, others another."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0] if "man" in t else [0.6, 0.8] for t in texts], dtype=np.float32)


def test_scores_average_over_every_stretch_unanswered_as_zero() -> None:
    score = LayoutScore("storyboard", seconds=3.0)
    row = {"sentence": "A man walks.", "images": 1, "image_tokens": 81}
    score.rows = [{**row, "text": "A man runs."}, {**row, "text": "A van parks."}, {**row, "text": None}]
    done = _summarise(score, UnitEmbedder())
    assert done.stretches == 3 and done.answered == 2 and done.seconds == 1.0 and done.image_tokens == 81
    assert done.similarity == pytest.approx((1.0 + 0.6) / 3)
    assert done.overlap == pytest.approx((2 * 0.5 * 0.5 / 1.0) / 3)  # "man" shared by "man runs" / "man walks"
    table = format_describe_scores([done])
    assert "storyboard" in table and "0.533" in table


@pytest.mark.slow
def test_eval_describe_runs_end_to_end_on_the_tiny_checkpoints(
    sample_clip: tuple[Path, dict], offline_models: dict[str, str], tmp_path: Path
) -> None:
    clip, truth = sample_clip
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "street_cam.mp4").write_bytes(clip.read_bytes())
    spans = [truth["active_intervals"][0], [14.0, 20.0]]  # someone walks by; then nothing happens
    sentences = ["A person in a dark coat walks across the street.", "The street is empty."]
    annotations = tmp_path / "uca.json"
    entry = {"duration": truth["duration_s"], "timestamps": spans, "sentences": sentences}
    annotations.write_text(json.dumps({"street_cam": entry, "not_downloaded": entry}))
    out = tmp_path / "rows.json"
    cmd = [sys.executable, "-m", "veille", "eval", "describe", "--videos", str(videos), "--annotations",
           str(annotations), "--device", "cpu", "--json", str(out)]  # fmt: skip
    done = subprocess.run(cmd, env=offline_models, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split()[0]: line.split() for line in done.stdout.strip().splitlines()[1:]}
    assert set(lines) == {"storyboard", "frames"}
    for layout, images, tokens in (("storyboard", "1.0", "4"), ("frames", "4.0", "16")):
        stretches, answered, similarity, overlap, seconds, shown, image_tokens = lines[layout][1:]
        assert 0 <= int(answered) <= 2
        assert stretches == "2" and shown == images and image_tokens == tokens  # the tiny model: 4 tokens per image
        assert -1 <= float(similarity) <= 1 and 0 <= float(overlap) <= 1 and float(seconds) > 0
    rows = json.loads(out.read_text())
    assert [r["sentence"] for r in rows["frames"]] == sentences
    for row in rows["storyboard"] + rows["frames"]:
        if row["text"]:
            assert -1 <= row["similarity"] <= 1 and 0 <= row["overlap"] <= 1
    assert any(r["text"] for r in rows["storyboard"])  # the embedder scored at least one answer


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (None, 1, "does not exist"),
        ("[1, 2]", 2, "the UCA format"),
        ('{"elsewhere": {"timestamps": [[1, 2]], "sentences": ["x"]}}', 1, "none of the 1 annotated videos"),
    ],
)
def test_eval_describe_bad_input_is_one_line(
    content: str | None, code: int, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    annotations = tmp_path / "uca.json"
    if content is not None:
        annotations.write_text(content)
    argv = ["eval", "describe", "--videos", str(tmp_path), "--annotations", str(annotations), "--offline"]
    exit_code, out, err = in_process(capsys, argv)
    assert exit_code == code and says in err and len(err.strip().splitlines()) == 1 and not out
