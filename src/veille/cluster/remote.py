"""The task's side of the model workers: a session and backends that forward calls to a worker.

:class:`RemoteSession` stands where a :class:`~veille.models.session.ModelSession` stands in
:func:`veille.pipeline.analyze`, so the analysis engine runs unchanged in the task; only the model
calls themselves go to the worker (the chunks' images travel through Ray's object store).
"""

from __future__ import annotations

from typing import Any

from veille.progress import NullProgress, Progress


class _Backend:
    """A model on a worker: ``info`` and ``image_size`` as the worker reported them."""

    def __init__(self, worker: Any, role: str, described: dict[str, Any]) -> None:
        self.worker, self.role = worker, role
        self.info = described["info"]
        self.image_size = described["image_size"]

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import ray

        ok, value = ray.get(self.worker.call.remote(self.role, method, args, kwargs))
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """The worker keeps its models for the run."""


class RemoteVisionModel(_Backend):
    """The describer on a worker."""

    def generate(self, prompt: str, images: Any, *, max_new_tokens: int) -> str:
        return str(self._call("generate", prompt, images, max_new_tokens=max_new_tokens))

    def generate_batch(self, requests: Any, *, max_new_tokens: int) -> list[str]:
        return list(self._call("generate_batch", list(requests), max_new_tokens=max_new_tokens))


class RemoteTextModel(_Backend):
    """The reasoner on a worker (one that writes its verdicts)."""

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Any = ()) -> str:
        return str(self._call("generate", prompt, max_new_tokens=max_new_tokens, stop=tuple(stop)))


class RemoteScoringModel(RemoteTextModel):
    """The reasoner on a worker, one that weighs one-token answers."""

    def choose_each(self, prompt: str, choices: Any, answer_starts: Any) -> Any:
        return self._call("choose_each", prompt, list(choices), list(answer_starts))

    def continue_each(self, prompt: str, answer_starts: Any, *, max_new_tokens: int, stop: Any = ()) -> list[str]:
        return list(
            self._call("continue_each", prompt, list(answer_starts), max_new_tokens=max_new_tokens, stop=tuple(stop))
        )


class RemoteGrounder(_Backend):
    """The grounder on a worker."""

    def ground(self, image: Any) -> Any:
        return self._call("ground", image)


class RemoteSession:
    """The models of one video's analysis, served by ``worker``; same interface as a ModelSession."""

    def __init__(self, worker: Any, settings: Any) -> None:
        from veille.models.manager import ModelManager

        self.worker = worker
        self._specs = ModelManager(settings, progress=NullProgress(), warnings=[])
        self._backends: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self.progress: Progress = NullProgress()
        self.warnings: list[str] = []

    def rebind(self, *, progress: Progress, warnings: list[str]) -> None:
        """Send the models' warnings to this video's analysis."""
        self.progress, self.warnings = progress, warnings

    def spec(self, role: str) -> str | None:
        """The model named for ``role``, or None."""
        return self._specs.spec(role)

    def _get(self, role: str) -> Any | None:
        if role in self._backends:
            return self._backends[role]
        if self.spec(role) is None:
            return None
        import ray

        described, warnings = ray.get(self.worker.load.remote(role))
        for warning in warnings:
            self.progress.warn(warning)
            self.warnings.append(warning)
        backend = None
        if described is not None:
            kind = {"describer": RemoteVisionModel, "grounder": RemoteGrounder}.get(role)
            kind = kind or (RemoteScoringModel if described["scoring"] else RemoteTextModel)
            backend = kind(self.worker, role, described)
            self._info[role] = described["info"]
        self._backends[role] = backend
        return backend

    def describer(self) -> Any | None:
        """The describer on the worker (loaded there on first use), or None."""
        return self._get("describer")

    def grounder(self) -> Any | None:
        """The grounder on the worker, or None."""
        return self._get("grounder")

    def reasoner(self) -> Any | None:
        """The reasoner on the worker, or None."""
        return self._get("reasoner")

    def stage_done(self, role: str) -> None:
        """The worker keeps its models for the run."""

    def video_done(self) -> None:
        """The worker keeps its models for the run."""

    def close(self) -> None:
        """Nothing to free here."""

    def loaded(self) -> list[str]:
        """The roles this video has used."""
        return [role for role, backend in self._backends.items() if backend is not None]

    def info(self) -> dict[str, Any]:
        """``report.models``: how each role's model ran."""
        from veille.models.catalog import ROLES

        return {role: self._info.get(role) for role in ROLES}

    @property
    def download_s(self) -> float:
        """Downloads happen on the worker, outside the video's time."""
        return 0.0

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
