"""Model actors: each loads the run's models once, on its node, and serves the chunks of every video.

A :class:`ModelWorker` holds a :class:`~veille.models.session.ModelSession` whose models stay
loaded for the whole run (lifetime ``batch``): the model manager resolves and downloads them into
that node's cache, so weights never travel through Ray's object store. Calls from several videos
arrive side by side (a threaded actor); one lock keeps one model call at a time, and on a GPU the
describer's requests of several videos that arrive together go through the model as one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from veille.cluster.batcher import Batcher
from veille.errors import VeilleError
from veille.progress import NullProgress

#: Roles a worker serves, and the backend methods a task may call on each.
METHODS = {
    "describer": ("generate", "generate_batch"),
    "reasoner": ("generate", "choose_each", "continue_each"),
    "grounder": ("ground",),
}
#: Requests of several videos merged into one describer call on a GPU (as a local GPU run batches).
GPU_BATCH = 8


class ModelWorker:
    """The models of a run on one node (a Ray actor; see :func:`start_workers`)."""

    def __init__(self, settings: Any) -> None:
        from veille import constants
        from veille.models.session import ModelLifetime, ModelSession

        constants.apply_offline(settings.offline)  # on this node too: --offline never touches the network
        self.warnings: list[str] = []
        self.session = ModelSession(settings, warnings=self.warnings, lifetime=ModelLifetime.BATCH)
        self.lock = threading.RLock()
        self.batcher: Batcher | None = None

    def load(self, role: str) -> tuple[dict[str, Any] | None, list[str]]:
        """Load ``role``'s model (once); what a task needs to know of it, and the manager's warnings.

        Raises:
            ModelError: the model cannot be had and the settings are strict.
        """
        with self.lock:
            before = len(self.warnings)
            self.session.rebind(progress=NullProgress(), warnings=self.warnings)
            backend = getattr(self.session, role)()
            news = self.warnings[before:]
            if backend is None:
                return None, news
            described = {
                "info": backend.info,
                "image_size": getattr(backend, "image_size", None),
                "scoring": callable(getattr(backend, "choose_each", None)),
            }
            if role == "describer" and str(backend.info.device).startswith("cuda") and self.batcher is None:
                self.batcher = Batcher(self._generate_batch, GPU_BATCH)
            return described, news

    def call(self, role: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """``backend.method(*args, **kwargs)`` of ``role``'s model: (True, result) or (False, the error)."""
        if method not in METHODS.get(role, ()):
            return False, VeilleError(f"model workers do not serve {role}.{method}")
        try:
            if role == "describer" and method == "generate_batch" and self.batcher is not None:
                return True, self.batcher.run(list(args[0]), kwargs["max_new_tokens"])
            with self.lock:
                backend = getattr(self.session, role)()  # loaded again after a restart of this actor
                if backend is None:
                    return False, VeilleError(f"the {role} model is not loaded")
                return True, getattr(backend, method)(*args, **kwargs)
        except VeilleError as exc:  # a backend's failure: the task handles it as a local run does
            return False, exc

    def _generate_batch(self, requests: list[Any], max_new_tokens: int) -> list[str]:
        with self.lock:
            backend = self.session.describer()
            if backend is None:
                raise VeilleError("the describer model is not loaded")
            return list(backend.generate_batch(requests, max_new_tokens=max_new_tokens))

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        import os

        return os.getpid()


def worker_count(resources: dict[str, float], cpus_per_worker: int) -> tuple[int, dict[str, float]]:
    """How many model workers the cluster gets and what each reserves: one per GPU, else one per
    ``cpus_per_worker`` CPU cores (at least one, reserving one core)."""
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    cpus = int(resources.get("CPU", 1))
    return max(1, cpus // max(1, cpus_per_worker)), {"num_cpus": 1}


def start_workers(ray: Any, settings: Any, cpus_per_worker: int) -> list[Any]:
    """The run's model workers, spread over the nodes; a dead one is restarted and its calls retried."""
    count, reserve = worker_count(ray.cluster_resources(), cpus_per_worker)
    actor = ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=16, **reserve)(ModelWorker)
    return [actor.options(scheduling_strategy="SPREAD").remote(settings) for _ in range(count)]
