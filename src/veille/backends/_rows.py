"""Token rows side by side: the shared prefix, left padding after it, and the batch kept for what follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Rows:
    """The per-row caches of the last batch weighed, with the rows, their padded layout and mask."""

    cache: Any
    rows: list[list[int]]
    ids: list[list[int]]
    mask: list[list[int]]

    @property
    def capacity(self) -> int:
        """How many tokens each row's cache can hold."""
        return int(self.cache.layers[0].max_cache_len)


def left_padded(
    ids: Sequence[list[int]], mask: Sequence[list[int]], added: Sequence[list[int]], pad: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Each row's ``added`` tokens after its ``ids``, padded on the left to the longest (the mask hides the padding)."""
    width = max(len(a) for a in added)
    out = [list(i) + [pad] * (width - len(a)) + list(a) for i, a in zip(ids, added, strict=True)]
    seen = [list(m) + [0] * (width - len(a)) + [1] * len(a) for m, a in zip(mask, added, strict=True)]
    return out, seen


def tensors(ids: list[list[int]], mask: list[list[int]], device: Any) -> tuple[Any, Any]:
    """``ids`` and ``mask`` as tensors on ``device``."""
    import torch

    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def shared_length(rows: Sequence[list[int]]) -> int:
    """How many leading tokens all ``rows`` share, leaving each at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    shared = 0
    while shared < limit and all(r[shared] == rows[0][shared] for r in rows[1:]):
        shared += 1
    return shared


def parting_token(seqs: Sequence[list[int]]) -> int | None:
    """The index of the first token where all ``seqs`` differ from each other, or None if there is none."""
    part = 0
    while all(len(s) > part for s in seqs) and len({s[part] for s in seqs}) == 1:
        part += 1
    if part == 0 or any(len(s) <= part for s in seqs) or len({s[part] for s in seqs}) < len(seqs):
        return None
    return part
