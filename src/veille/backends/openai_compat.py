"""An OpenAI-compatible chat-completions backend (Ollama, vLLM, llama.cpp server…), stdlib HTTP only.

Chosen with ``--vlm openai:MODEL`` / ``--llm openai:MODEL`` and ``--api-base URL``; the API key comes
from the environment (``VEILLE_API_KEY``, else ``OPENAI_API_KEY``) and is only ever sent as the
``Authorization`` header: never logged, never in a message or the report.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from veille.backends.base import VisionRequest, cut_at_stop
from veille.backends.info import ModelInfo
from veille.errors import BackendError, ModelError
from veille.redact import mask_credentials

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
API_KEY_VARIABLES = ("VEILLE_API_KEY", "OPENAI_API_KEY")
CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    """A model on an OpenAI-compatible server: its address, its name there, and the key (never shown)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def shown_url(self) -> str:
        """``base_url`` with any credentials in it masked."""
        return mask_credentials(self.base_url)


def api_key_from(environ: Mapping[str, str]) -> str | None:
    """The API key: ``VEILLE_API_KEY``, else ``OPENAI_API_KEY`` (``None`` when neither is set)."""
    return next((environ[name] for name in API_KEY_VARIABLES if environ.get(name)), None)


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def check_server(endpoint: RemoteEndpoint, *, timeout_s: float = CHECK_TIMEOUT_S) -> list[str]:
    """Ask the server for its models (``GET {base}/models``) before any work is sent; return their names.

    Any HTTP answer but 401/403 means the server is there (some servers have no ``/models``).

    Raises:
        ModelError: the server cannot be reached, or refuses the key.
    """
    url = endpoint.base_url.rstrip("/") + "/models"
    request = urllib.request.Request(url, headers=_headers(endpoint.api_key), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data = json.loads(response.read().decode("utf-8") or "{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ModelError(
                f"the OpenAI-compatible server at {endpoint.shown_url} refused the API key (HTTP {exc.code});"
                f" set {' or '.join(API_KEY_VARIABLES)}"
            ) from None
        return []
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"the OpenAI-compatible server at {endpoint.shown_url} cannot be reached ({reason}); start it"
            " (e.g. `ollama serve`) or check --api-base"
        ) from None
    except ValueError:
        return []
    rows = data.get("data") if isinstance(data, dict) else None
    return [str(r.get("id")) for r in rows if isinstance(r, dict) and r.get("id")] if isinstance(rows, list) else []


def data_url(image: np.ndarray, *, quality: int = 85) -> str:
    """An RGB array as a ``data:image/jpeg;base64,…`` URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).convert("RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAICompatBackend:
    """Plays the describer or the reasoner through ``POST {base_url}/chat/completions``.

    Args:
        base_url: e.g. ``http://127.0.0.1:11434/v1``.
        model: the server's model name.
        api_key: sent as a bearer token when given.
        timeout_s: per-request timeout.
        retries: extra attempts on connection errors and 408/429/5xx answers (exponential back-off).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 2,
        backoff_s: float = 0.5,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self._api_key = model, api_key
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.info = ModelInfo(id=model, device="remote", dtype="remote")

    @classmethod
    def at(cls, endpoint: RemoteEndpoint, **kwargs: Any) -> OpenAICompatBackend:
        """The backend for ``endpoint``."""
        return cls(endpoint.base_url, endpoint.model, api_key=endpoint.api_key, **kwargs)

    def generate(
        self, prompt: str, images: Sequence[np.ndarray] = (), *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> str:
        """One chat completion; images go as base64 data URLs before the text."""
        content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in images]
        content.append({"type": "text", "text": prompt})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content if images else prompt}],
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }
        if stop:
            body["stop"] = list(stop)[:4]
        answer = self._post(body)
        try:
            text = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(
                f"{mask_credentials(self.url)} answered without choices[0].message.content; is it OpenAI-compatible?"
            ) from exc
        return cut_at_stop(str(text), stop)

    def generate_batch(self, requests: Sequence[VisionRequest], *, max_new_tokens: int) -> list[str]:
        """One request after another (the server does its own batching)."""
        return [self.generate(p, images, max_new_tokens=max_new_tokens) for p, images in requests]

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = _headers(self._api_key)
        shown = mask_credentials(self.url)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    answer: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                    return answer
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in RETRYABLE_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            except ValueError as exc:
                raise BackendError(f"{shown} answered with invalid JSON; check the server") from exc
            log.info("request to %s failed (%s), attempt %d", shown, last, attempt + 1)
        raise BackendError(f"{shown} failed ({last}); check that the server is running and the model name is right")

    def close(self) -> None:
        """Nothing to free."""
        return None
