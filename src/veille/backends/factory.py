"""Pick and build the backend for a role: from a local model folder, or an OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from veille.backends import _hf
from veille.errors import ModelError

if TYPE_CHECKING:
    from veille.backends.base import Backend
    from veille.backends.openai_compat import RemoteEndpoint
    from veille.backends.runtime import RuntimeOptions

VLM_TYPES = {"idefics3", "smolvlm"}  # SmolVLM v1 (Idefics3) and SmolVLM2
TEXT_TYPES = {"phi", "phi3", "llama", "mistral", "qwen2"}
GROUNDER_TYPES = {"kosmos-2"}
ROLE_TYPES = {"describer": VLM_TYPES, "reasoner": TEXT_TYPES, "grounder": GROUNDER_TYPES}
REMOTE_ROLES = ("describer", "reasoner")


def create_backend(
    role: str,
    path: Path | None,
    options: RuntimeOptions,
    *,
    model_id: str,
    revision: str | None = None,
    endpoint: RemoteEndpoint | None = None,
) -> Backend:
    """The backend for ``role``: the server's model at ``endpoint``, else the model in ``path``.

    A local model's backend is chosen by its ``config.json``'s ``model_type``.

    Raises:
        ModelError: the architecture (or a remote model) cannot play that role.
    """
    if endpoint is not None:
        if role not in REMOTE_ROLES:
            raise ModelError(f"the {role} cannot be an OpenAI-compatible model; only the describer and the reasoner")
        from veille.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend.at(endpoint)
    if path is None:
        raise ModelError(f"{model_id}: no model folder to load")
    kind = _hf.model_type(path)
    if kind not in ROLE_TYPES.get(role, set()):
        wanted = ", ".join(sorted(ROLE_TYPES.get(role, set()))) or "none"
        raise ModelError(f"{model_id} is a '{kind}' model, which cannot be the {role}; pick one of: {wanted}")
    if role == "describer":
        from veille.backends.idefics3 import Idefics3Backend

        if kind == "smolvlm" and importlib.util.find_spec("torchvision") is None:
            raise ModelError(
                f"{model_id} is a SmolVLM2 model, whose processor needs torchvision and num2words: "
                "pip install 'veille[smolvlm2]', or pick smolvlm / smolvlm-256m"
            )

        return Idefics3Backend(path, options, model_id=model_id, revision=revision)
    if role == "reasoner":
        from veille.backends.causal_lm import CausalLMBackend

        return CausalLMBackend(path, options, model_id=model_id, revision=revision)
    from veille.backends.kosmos2 import Kosmos2Backend

    return Kosmos2Backend(path, options, model_id=model_id, revision=revision)
