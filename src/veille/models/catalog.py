"""The models veille knows by name: role, repository, true download size, files to fetch.

Any other Hugging Face repo id or local directory works too; the catalog only adds names,
sizes and safe file patterns. Importing this module imports neither torch nor huggingface_hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["describer", "reasoner", "grounder"]
ROLES: tuple[Role, ...] = ("describer", "reasoner", "grounder")

SAFE_PATTERNS: tuple[str, ...] = (
    "*.safetensors",
    "*.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "sentencepiece.bpe.model",
    "chat_template.json",
    "chat_template.jinja",
    "video_preprocessor_config.json",
)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A model known by name."""

    name: str
    repo_id: str
    role: Role
    architecture: str
    size_bytes: int
    title: str
    revision: str = "main"
    allow_patterns: tuple[str, ...] = SAFE_PATTERNS

    @property
    def size_gb(self) -> float:
        """Download size in GB (10^9 bytes)."""
        return self.size_bytes / 1e9


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            "smolvlm",
            "HuggingFaceTB/SmolVLM-Instruct",
            "describer",
            "idefics3",
            4_490_000_000,
            "SmolVLM-Instruct (2.2B)",
        ),
        CatalogEntry(
            "smolvlm-500m",
            "HuggingFaceTB/SmolVLM-500M-Instruct",
            "describer",
            "idefics3",
            1_020_000_000,
            "SmolVLM-500M-Instruct",
        ),
        CatalogEntry(
            "smolvlm-256m",
            "HuggingFaceTB/SmolVLM-256M-Instruct",
            "describer",
            "idefics3",
            513_000_000,
            "SmolVLM-256M-Instruct",
        ),
        # SmolVLM2 (video-trained; needs the smolvlm2 extra); sizes: parameters x 2 bytes (bf16), rounded up
        CatalogEntry(
            "smolvlm2",
            "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
            "describer",
            "smolvlm",
            4_500_000_000,
            "SmolVLM2-2.2B-Instruct (needs veille[smolvlm2])",
        ),
        CatalogEntry(
            "smolvlm2-500m",
            "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
            "describer",
            "smolvlm",
            1_020_000_000,
            "SmolVLM2-500M-Video-Instruct (needs veille[smolvlm2])",
        ),
        CatalogEntry(
            "smolvlm2-256m",
            "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
            "describer",
            "smolvlm",
            520_000_000,
            "SmolVLM2-256M-Video-Instruct (needs veille[smolvlm2])",
        ),
        CatalogEntry("phi-2", "microsoft/phi-2", "reasoner", "phi", 5_560_000_000, "Phi-2 (2.7B)"),
        CatalogEntry(
            "phi-3-mini",
            "microsoft/Phi-3-mini-4k-instruct",
            "reasoner",
            "phi3",
            7_640_000_000,
            "Phi-3-mini-4k-instruct (3.8B)",
        ),
        CatalogEntry(
            "kosmos-2", "microsoft/kosmos-2-patch14-224", "grounder", "kosmos-2", 6_660_000_000, "Kosmos-2 (1.7B)"
        ),
    )
}

PROFILES: dict[str, dict[Role, str | None]] = {
    "motion": {"describer": None, "reasoner": None, "grounder": None},
    "fast": {"describer": "smolvlm-256m", "reasoner": "phi-2", "grounder": None},
    "default": {"describer": "smolvlm", "reasoner": "phi-2", "grounder": None},
    "full": {"describer": "smolvlm", "reasoner": "phi-2", "grounder": "kosmos-2"},
}


#: The setup the peaks below were measured in: the CPU, int8 linear layers (veille's default there).
CPU_INT8 = "cpu-int8"
_GIB = 1 << 30
#: Peak resident memory of a whole ``veille analyze`` of the 30 s sample clip on this project's
#: 2-core test machine, measured by ``benchmarks/load.py`` with full-size random-weight twins saved
#: in the dtype their repositories ship; the larger of the first load (quantizing) and the cached
#: load, rounded up to 0.1 GiB. The baseline is the ``motion`` profile (no model); a model's peak is
#: an analysis with that model alone (beside the tiny test describer when it is a reasoner or a
#: grounder). Models not listed were not measured: :mod:`veille.models.requirements` does not guess.
BASELINE_PEAK_MEMORY: dict[str, int] = {CPU_INT8: int(0.2 * _GIB)}
MODEL_PEAK_MEMORY: dict[str, dict[str, int]] = {
    "smolvlm-256m": {CPU_INT8: int(1.4 * _GIB)},
    "smolvlm": {CPU_INT8: int(3.6 * _GIB)},
    "phi-2": {CPU_INT8: int(4.1 * _GIB)},
    "kosmos-2": {CPU_INT8: int(2.7 * _GIB)},
}
#: Whole profiles measured the same way (their own models, one after another: the ``stage`` model
#: lifetime). Not used to decide anything: a profile's peak follows from its models' peaks
#: (:func:`veille.models.requirements.profile_peak`); these runs show that rule holds.
PROFILE_RUN_PEAK_MEMORY: dict[str, dict[str, int]] = {
    "fast": {CPU_INT8: int(3.8 * _GIB)},
    "default": {CPU_INT8: int(3.9 * _GIB)},
    "full": {CPU_INT8: int(3.9 * _GIB)},
}


def profiles_using(name: str) -> list[str]:
    """The profiles whose default models include ``name``."""
    return [p for p, roles in PROFILES.items() if name in roles.values()]


def lookup(name_or_repo: str) -> CatalogEntry | None:
    """The catalog entry for a name or a repo id, if any."""
    if name_or_repo in CATALOG:
        return CATALOG[name_or_repo]
    return next((e for e in CATALOG.values() if e.repo_id == name_or_repo), None)
