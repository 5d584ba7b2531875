"""The one owner of model lifetime: which models stay in memory, and when each is freed.

The analysis asks a :class:`ModelSession` for its models and tells it where it stands (a stage is
done, a video is done, the run is over: :meth:`~ModelSession.close`); the session's
:class:`ModelLifetime` decides what is freed then. Nothing else frees a model.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from veille.models.manager import BackendFactory, ModelManager
from veille.progress import NullProgress, Progress

if TYPE_CHECKING:
    from veille.backends.base import Grounder, TextModel, VisionLanguageModel
    from veille.backends.info import ModelInfo
    from veille.settings import Settings

VISION_ROLES = ("describer", "grounder")


class ModelLifetime(StrEnum):
    """How long a loaded model stays in memory."""

    #: The describer and the grounder are freed when their stage is done (always before the reasoner
    #: loads), the reasoner at the end of the video: one model in memory at a time (the default).
    STAGE = "stage"
    #: Every model of a video stays loaded until the video is done.
    VIDEO = "video"
    #: Models stay loaded from one video to the next and are freed when the run is over.
    BATCH = "batch"


def lifetime_for(settings: Settings) -> ModelLifetime:
    """The lifetime the settings ask for: ``model_lifetime`` when set, else the older keys.

    ``cleanup_after_analysis = false`` means ``batch``; ``keep_models_loaded = true`` means ``video``.
    """
    if settings.model_lifetime is not None:
        return ModelLifetime(settings.model_lifetime)
    if not settings.cleanup_after_analysis:
        return ModelLifetime.BATCH
    if settings.keep_models_loaded:
        return ModelLifetime.VIDEO
    return ModelLifetime.STAGE


class ModelSession:
    """The models of a run (one video or a batch), loaded lazily, freed as :attr:`lifetime` says.

    Use it as a context manager: leaving it frees whatever is still loaded.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        progress: Progress | None = None,
        warnings: list[str] | None = None,
        factory: BackendFactory | None = None,
        lifetime: ModelLifetime | None = None,
    ) -> None:
        """Args:
        settings: the models to use and, unless ``lifetime`` is given, how long to keep them.
        progress, warnings: where the models' warnings go (see :meth:`rebind` for the next video).
        factory: builds a backend from a local folder (tests count loads with it).
        lifetime: overrides the settings' lifetime.
        """
        self.lifetime = lifetime or lifetime_for(settings)
        self._manager = ModelManager(
            settings,
            progress=progress or NullProgress(),
            warnings=[] if warnings is None else warnings,
            factory=factory,
        )

    def rebind(self, *, progress: Progress, warnings: list[str]) -> None:
        """Send the models' warnings to the analysis of the next video."""
        self._manager.rebind(progress=progress, warnings=warnings)

    def spec(self, role: str) -> str | None:
        """The model named for ``role``, or None."""
        return self._manager.spec(role)

    def describer(self) -> VisionLanguageModel | None:
        """The describer, loaded on first use; None when there is none or it cannot be had."""
        return self._manager.get("describer")

    def grounder(self) -> Grounder | None:
        """The grounder, loaded on first use; None when there is none or it cannot be had."""
        return self._manager.get("grounder")

    def reasoner(self) -> TextModel | None:
        """The reasoner, loaded on first use (per stage, after the vision models are freed); or None."""
        if self.spec("reasoner") is None:
            return None
        if self.lifetime is ModelLifetime.STAGE:
            for role in VISION_ROLES:
                self._manager.release(role)
        return self._manager.get("reasoner")

    def stage_done(self, role: str) -> None:
        """The analysis of this video needs ``role``'s model no more."""
        if self.lifetime is ModelLifetime.STAGE:
            self._manager.release(role)

    def video_done(self) -> None:
        """A video's analysis is over (finished, failed or interrupted)."""
        if self.lifetime is not ModelLifetime.BATCH:
            self._manager.close()

    def close(self) -> None:
        """The run is over: free every model."""
        self._manager.close()

    def loaded(self) -> list[str]:
        """The roles whose models are in memory now."""
        return self._manager.loaded()

    def info(self) -> dict[str, ModelInfo | None]:
        """``report.models``: how each role's model ran."""
        return self._manager.info()

    @property
    def download_s(self) -> float:
        """Seconds spent so far getting models (resolving, downloading, retries and failures included)."""
        return self._manager.download_s

    def __enter__(self) -> ModelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
