"""``--cluster ray[://ADDRESS]``: parse it, import Ray (an optional extra), connect and disconnect."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from veille.errors import UsageError
from veille.redact import mask_credentials

INSTALL = 'pip install -e ".[ray]"'
#: Tries at joining a cluster whose client server is slow to answer.
CONNECT_ATTEMPTS = 3


class ClusterError(UsageError):
    """The cluster option is wrong or the cluster cannot be used."""


def parse_cluster(value: str) -> str | None:
    """The Ray address of ``ray`` (None: start a local Ray instance) or ``ray://HOST:PORT`` (join).

    Raises:
        ClusterError: anything else.
    """
    text = value.strip()
    if text == "ray":
        return None
    if text.startswith("ray://") and len(text) > len("ray://"):
        return text
    shown = mask_credentials(value)
    raise ClusterError(f"--cluster {shown!r}: give 'ray' (a local Ray instance) or 'ray://HOST:PORT' (a cluster)")


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray, an optional extra: {INSTALL}") from None
    return ray


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """Ray connected to ``address`` (a fresh local instance when None), shut down on leaving."""
    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        options["include_dashboard"] = False
    _init(ray, address, options)
    try:
        yield ray
    finally:
        ray.shutdown()


def _init(ray: Any, address: str | None, options: dict[str, Any], attempts: int = CONNECT_ATTEMPTS) -> None:
    """``ray.init``, tried again when the head's client server could not start its side in time (busy head)."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address or "local", **options)
            return
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            if attempt < attempts and address is not None and "client server failed" in str(exc):
                time.sleep(2.0 * attempt)
                continue
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            where = mask_credentials(address or "a local Ray instance")
            raise ClusterError(f"cannot connect to {where}: {first}; is the cluster up (`ray status`)?") from None
