"""Report folders of a batch: one per source file, named so a person can tell same-name files apart.

Each folder holds ``.veille-source``, the absolute path of the video it belongs to, so a later run
never writes another file's report into it, even without the index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from veille.errors import OutputError
from veille.io import write_text
from veille.redact import mask_credentials

SOURCE_FILE = ".veille-source"


def _inside(out_dir: Path, name: str) -> str:
    """``name`` if ``out_dir / name`` stays inside ``out_dir``; raise otherwise (defence in depth)."""
    root = out_dir.resolve()
    if not (root / name).resolve().is_relative_to(root) or name in ("", ".", ".."):
        raise OutputError(f"refusing report folder name {name!r}: it would leave {out_dir}")
    return name


def source_key(video: Path) -> str:
    """How a source file is named in the index and in its folder's owner mark: its absolute path."""
    return mask_credentials(str(Path(video).resolve()))


def folder_owner(folder: Path, index_owners: dict[str, str] | None = None) -> str | None:
    """The source file a report folder belongs to: its owner mark, else the index, else its report.

    ``None`` when the folder does not exist or says nothing about its source. A report written
    by hand or before owner marks existed may name its video by a relative path.
    """
    try:
        return (folder / SOURCE_FILE).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        pass
    owner = (index_owners or {}).get(folder.name.lower())
    if owner is not None:
        return owner
    try:
        path = json.loads((folder / "report.json").read_text(encoding="utf-8"))["video"]["path"]
        return path if isinstance(path, str) and path else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _same_source(owner: str | None, video: Path) -> bool:
    """``owner`` (from :func:`folder_owner`) names ``video`` (or nothing at all)."""
    if owner is None or owner == source_key(video):
        return True
    return not Path(owner).is_absolute() and Path(owner).name == video.name


def claim_folder(folder: Path, video: Path) -> None:
    """Mark ``folder`` as the report folder of ``video`` (written before the analysis writes into it)."""
    write_text(folder / SOURCE_FILE, source_key(video) + "\n")


def assign_folders(videos: Sequence[Path], out_dir: Path, previous: dict[str, str] | None = None) -> dict[Path, str]:
    """A distinct, safe report folder name (under ``out_dir``) for each video; a folder belongs to one file.

    A video keeps the folder it had (``previous``: the existing index, by :func:`source_key`).
    Otherwise it gets ``<stem>`` when no other video of this run has its stem and the folder is
    not another file's. Videos that share a stem get the part of their paths that tells them apart:
    ``ped1/train/Train001.mp4`` and ``ped2/train/Train001.mp4`` → ``Train001-ped1``, ``Train001-ped2``;
    ``trunc.mkv`` beside an earlier ``trunc.ts`` → ``trunc-mkv``. Names compare case-insensitively.
    """
    from veille.pipeline import safe_name

    previous = previous or {}
    owners = {folder.lower(): key for key, folder in previous.items()}
    stems: dict[str, list[Path]] = {}
    for video in videos:
        stems.setdefault(safe_name(video.stem).lower(), []).append(video)
    taken: set[str] = set()
    out: dict[Path, str] = {}
    for video in videos:
        name = previous.get(source_key(video))
        if name is None or name.lower() in taken:
            name = _free_name(video, stems[safe_name(video.stem).lower()], out_dir, owners, taken)
        taken.add(name.lower())
        out[video] = _inside(out_dir, name)
    return out


def _free_name(
    video: Path, same_stem: list[Path], out_dir: Path, owners: dict[str, str], taken: set[str]
) -> str:
    from veille.pipeline import safe_name

    stem = safe_name(video.stem)

    def free(name: str) -> bool:
        return name.lower() not in taken and _same_source(folder_owner(out_dir / name, owners), video)

    plain_owner = folder_owner(out_dir / stem, owners)
    if free(stem) and (len(same_stem) == 1 or plain_owner is not None):
        return stem  # alone in this run, or this very file's folder from before
    others = [v for v in same_stem if v != video]
    if plain_owner is not None and not _same_source(plain_owner, video):
        others.append(Path(plain_owner))
    parts = _distinguishing(video, others)
    if parts:
        name = safe_name(f"{video.stem[:80]}-{'-'.join(parts)}")
        if free(name):
            return name
    n = 2
    while not free(f"{stem}-{n}"):
        n += 1
    return f"{stem}-{n}"


def _levels(path: Path) -> list[str]:
    """The extension, then the folders from the nearest up (what may tell two same-stem files apart)."""
    path = Path(path).resolve() if Path(path).is_absolute() or Path(path).exists() else Path(path)
    return [path.suffix.lstrip(".").lower(), *(part.lower() for part in reversed(path.parent.parts))]


def _distinguishing(video: Path, others: Sequence[Path]) -> list[str]:
    """Parts of ``video``'s path that no file of ``others`` has at the same place: one part when one
    suffices (the extension, else the nearest folder that differs), else the fewest found in that
    order; folders outermost first, then the extension. Empty when nothing tells them apart."""
    mine = _levels(video)
    theirs = [_levels(o) for o in others]
    resolved = Path(video).resolve()
    original = [resolved.suffix.lstrip("."), *reversed(resolved.parent.parts)]

    def differs(level: int, other: list[str]) -> bool:
        return level >= len(other) or other[level] != mine[level]

    usable = [i for i, value in enumerate(mine) if value not in ("", "/")]
    single = next((i for i in usable if all(differs(i, t) for t in theirs)), None)
    chosen = [single] if single is not None else []
    if single is None:
        for level in usable:
            rest = [t for t in theirs if not differs(level, t)]
            if len(rest) < len(theirs):
                chosen.append(level)
                theirs = rest
        if theirs:
            return []
    folders = [original[i] for i in sorted((i for i in chosen if i > 0), reverse=True)]
    return folders + [original[0]] * (0 in chosen)


