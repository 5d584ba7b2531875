"""``veille eval describe``: the describer's text against human descriptions of the same stretches.

Annotations in the UCA format (UCF-Crime Annotation: ``{video_id: {"duration": s, "timestamps":
[[start_s, end_s], ...], "sentences": [...]}}``); each annotated stretch is shown to the describer
as veille shows a chunk (its keyframes spread over the stretch, the storyboard zoomed on the motion
the scan saw there), in each layout asked for. Scores per layout: the embedding similarity of the
describer's text and the human sentence (the archive index's sentence embedder, else the packaged
all-MiniLM-L6-v2), a word-overlap F1 of their content words, and the describer's cost (seconds,
images and image tokens per stretch).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille import constants
from veille.analysis.describe import LAYOUTS, Layout, describe_chunks, describe_request
from veille.analysis.storyboard import native_size
from veille.errors import InputNotFoundError, ModelError, UsageError
from veille.types import Box, Chunk, Keyframe

if TYPE_CHECKING:
    from veille.backends.base import VisionLanguageModel
    from veille.settings import Settings

_STOPWORDS = (
    "a an the and or but of to in on at by for with from into onto is are was were be been being it its this that "
    "these those there their they them he she his her him who what which as while then than so not no one two "
    "some any very also can could seems seem appears appear"
)
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True, slots=True)
class Stretch:
    """One annotated stretch of a video and what a person wrote about it."""

    video_id: str
    start_s: float
    end_s: float
    sentence: str


@dataclass(slots=True)
class LayoutScore:
    """How the describer did in one layout, over every stretch."""

    layout: Layout
    stretches: int = 0
    answered: int = 0
    similarity: float = 0.0  # mean cosine similarity with the human sentence (unanswered: 0)
    overlap: float = 0.0  # mean word-overlap F1 (unanswered: 0)
    seconds: float = 0.0  # describer time per stretch
    images: float = 0.0  # images per stretch
    image_tokens: float | None = None  # image tokens per stretch, when the describer can count them
    rows: list[dict[str, Any]] = field(default_factory=list)


def read_annotations(path: Path) -> list[Stretch]:
    """The annotated stretches of a UCA-format file, in file order.

    Raises:
        InputNotFoundError: no such file.
        UsageError: the file is not in the UCA format (says what is wrong).
    """
    if not Path(path).is_file():
        raise InputNotFoundError(f"annotations file {path} does not exist; give a UCA-format JSON with --annotations")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON ({exc}); give a UCA-format file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected {{video_id: {{timestamps, sentences}}}} (the UCA format)")
    stretches = []
    for video_id, entry in data.items():
        spans = entry.get("timestamps") if isinstance(entry, dict) else None
        sentences = entry.get("sentences") if isinstance(entry, dict) else None
        if not isinstance(spans, list) or not isinstance(sentences, list) or len(spans) != len(sentences):
            raise UsageError(f"{path}: video {video_id!r} needs as many 'timestamps' as 'sentences' (the UCA format)")
        for span, sentence in zip(spans, sentences, strict=True):
            if not (isinstance(span, list) and len(span) == 2 and float(span[1]) > float(span[0])):
                raise UsageError(f"{path}: video {video_id!r} has a stretch {span!r}; expected [start_s, end_s]")
            stretches.append(Stretch(str(video_id), float(span[0]), float(span[1]), str(sentence).strip()))
    return stretches


def find_videos(folder: Path, video_ids: Sequence[str]) -> dict[str, Path]:
    """The video file of each annotated id found in ``folder`` (named after the id, any video extension)."""
    if not Path(folder).is_dir():
        raise InputNotFoundError(f"{folder} is not a folder; give the folder of the annotated videos with --videos")
    files = {p.stem: p for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in constants.VIDEO_EXTENSIONS}
    found = {v: files[v] for v in dict.fromkeys(video_ids) if v in files}
    if not found:
        raise InputNotFoundError(
            f"none of the {len(set(video_ids))} annotated videos is in {folder} (looked for <video_id>.mp4 and "
            "other video files); download the videos the annotations describe"
        )
    return found


def stretch_chunks(path: Path, stretches: Sequence[Stretch], settings: Settings) -> list[Chunk]:
    """One chunk per stretch, as the analysis would show it: keyframes spread over it, the motion seen there."""
    from veille.video.decode import grab_frames
    from veille.video.probe import probe
    from veille.video.scan import scan_video

    info = probe(path)
    plans = scan_video(info, settings.scan, load_keyframes=False).chunk_plans
    count = settings.scan.keyframes_per_chunk
    chunks = []
    for i, stretch in enumerate(stretches):
        end = min(stretch.end_s, info.duration_s)
        times = [stretch.start_s + (k + 0.5) * (end - stretch.start_s) / count for k in range(count)]
        frames = sorted(grab_frames(path, times), key=lambda item: item[0])
        boxes: list[Box] = []
        for plan in plans:
            if plan.start_s < end and plan.end_s > stretch.start_s:
                boxes += [*plan.motion_boxes, *(b for picked in plan.pick_boxes for b in picked)]
        keyframes = tuple(Keyframe(t, min(frames, key=lambda f: abs(f[0] - t))[1]) for t in times) if frames else ()
        chunks.append(Chunk(i, 0, stretch.start_s, end, keyframes, tuple(boxes)))
    return chunks


def word_overlap(text: str, reference: str) -> float:
    """F1 of the content words (lower case, stop words left out) of ``text`` against ``reference``."""
    ours, theirs = (set(re.findall(r"[a-z]+", t.lower())) - STOPWORDS for t in (text, reference))
    common = len(ours & theirs)
    if not common:
        return 0.0
    precision, recall = common / len(ours), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def load_text_embedder() -> Any:
    """The sentence embedder of the index (``.encode(texts)`` → L2-normalised float32 rows)."""
    from veille.archive.embedder import load_embedder

    return load_embedder(None)


def evaluate_describer(
    videos: dict[str, Path],
    stretches: Sequence[Stretch],
    vlm: VisionLanguageModel,
    settings: Settings,
    *,
    layouts: Sequence[Layout] = LAYOUTS,
    embedder: Any = None,
    max_new_tokens: int = 48,
    on_video: Callable[[str, int], None] | None = None,
) -> list[LayoutScore]:
    """Describe every stretch of the found videos in each layout and score the texts against the sentences."""
    scores = {layout: LayoutScore(layout) for layout in layouts}
    counter = getattr(vlm, "token_counts", None)
    for video_id, path in videos.items():
        mine = [s for s in stretches if s.video_id == video_id]
        if on_video:
            on_video(video_id, len(mine))
        chunks = stretch_chunks(path, mine, settings)
        for layout, score in scores.items():
            start = time.perf_counter()
            texts, _, _, _ = describe_chunks(
                chunks, vlm, context=settings.context, max_new_tokens=max_new_tokens, layout=layout
            )
            score.seconds += time.perf_counter() - start
            for chunk, stretch in zip(chunks, mine, strict=True):
                score.rows.append(_row(stretch, texts.get(chunk.id), chunk, layout, vlm, settings.context, counter))
    embedder = embedder or load_text_embedder()
    return [_summarise(score, embedder) for score in scores.values()]


def _row(
    stretch: Stretch, text: str | None, chunk: Chunk, layout: Layout, vlm: Any, context: str, counter: Any
) -> dict[str, Any]:
    """One stretch's result: the texts, and what the describer was given (images, image tokens)."""
    request = describe_request(chunk, layout, context, native_size(vlm)) if chunk.keyframes else None
    return {
        "video": stretch.video_id,
        "start_s": stretch.start_s,
        "end_s": stretch.end_s,
        "sentence": stretch.sentence,
        "text": text,
        "images": len(request[1]) if request else 0,
        "image_tokens": counter([request])[0][0] if counter and request else None,
    }


def _summarise(score: LayoutScore, embedder: Any) -> LayoutScore:
    """Fill the means of ``score`` from its rows."""
    rows = score.rows
    answered = [r for r in rows if r["text"]]
    if answered:
        ours = embedder.encode([r["text"] for r in answered])
        theirs = embedder.encode([r["sentence"] for r in answered])
        for row, a, b in zip(answered, ours, theirs, strict=True):
            row["similarity"] = float((a * b).sum())
            row["overlap"] = word_overlap(row["text"], row["sentence"])
    n = max(1, len(rows))
    score.stretches, score.answered = len(rows), len(answered)
    score.similarity = sum(r.get("similarity", 0.0) for r in rows) / n
    score.overlap = sum(r.get("overlap", 0.0) for r in rows) / n
    score.seconds /= n
    score.images = sum(r["images"] for r in rows) / n
    counted = [r["image_tokens"] for r in rows if r["image_tokens"] is not None]
    score.image_tokens = sum(counted) / len(counted) if counted else None
    return score


def format_describe_scores(scores: Sequence[LayoutScore]) -> str:
    """A plain-text table, one row per layout."""
    lines = [
        f"{'layout':<11} {'stretches':>9} {'answered':>8} {'similarity':>10} {'overlap':>7} "
        f"{'s/stretch':>9} {'images':>6} {'image tokens':>12}"
    ]
    for s in scores:
        tokens = f"{s.image_tokens:.0f}" if s.image_tokens is not None else "-"
        lines.append(
            f"{s.layout:<11} {s.stretches:>9} {s.answered:>8} {s.similarity:>10.3f} {s.overlap:>7.3f} "
            f"{s.seconds:>9.2f} {s.images:>6.1f} {tokens:>12}"
        )
    return "\n".join(lines)


def run_describe_eval(
    videos_dir: Path,
    annotations: Path,
    settings: Settings,
    *,
    layouts: Sequence[Layout] = LAYOUTS,
    limit: int | None = None,
    json_out: Path | None = None,
) -> str:
    """``veille eval describe``: read, find, describe with the settings' describer, score; the table."""
    from veille.console import Console
    from veille.models.session import ModelSession

    stretches = read_annotations(annotations)
    videos = find_videos(videos_dir, [s.video_id for s in stretches])
    stretches = [s for s in stretches if s.video_id in videos][:limit]
    videos = {v: p for v, p in videos.items() if any(s.video_id == v for s in stretches)}
    console = Console()
    with ModelSession(settings, progress=console.progress()) as session:
        vlm = session.describer()
        if vlm is None:
            raise ModelError(f"profile '{settings.profile}': no describer model available; give one with --vlm")
        scores = evaluate_describer(
            videos, stretches, vlm, settings, layouts=layouts, on_video=lambda v, n: console.note(f"{v}: {n} stretches")
        )
    if json_out is not None:
        from veille.io import write_text

        rows = {s.layout: s.rows for s in scores}
        write_text(Path(json_out), json.dumps(rows, indent=2) + "\n")
    return format_describe_scores(scores)
