"""What a backend says about its model: the report's ``models`` entries (:class:`ModelInfo`).

It lives with the backends, which fill it in; :mod:`veille.report.schema` re-exports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ModelInfo(BaseModel):
    """Which model played a role, and how it ran."""

    model_config = ConfigDict(extra="forbid")

    id: str
    revision: str | None = None
    device: str
    dtype: str
    quantization: str | None = None
