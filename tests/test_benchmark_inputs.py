"""The end-to-end benchmark's random models write words of their vocabulary, not its filler."""

from __future__ import annotations

import torch
from transformers import PhiConfig, PhiForCausalLM

from benchmarks.analysis import random_model
from benchmarks.end_to_end import tokenizer, words_only
from tests.tiny_models import CORPUS, PHI_SPECIAL_TOKENS


def _written(protect: bool) -> tuple[list[int], int]:
    backend, known = tokenizer(PHI_SPECIAL_TOKENS, 4000, list(CORPUS))
    assert 0 < known < 3990 <= backend.get_vocab_size() <= 4000  # filled up to the size with letter-only pieces
    config = PhiConfig(vocab_size=4032, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, partial_rotary_factor=0.5, eos_token_id=None)  # fmt: skip
    torch.manual_seed(0)
    model = random_model(PhiForCausalLM, config, torch.float32)
    if protect:
        words_only(model, known)
    prompt = torch.tensor([backend.encode("A man walks past the gate").ids])
    with torch.inference_mode():
        out = model.generate(prompt, max_new_tokens=60, min_new_tokens=60, do_sample=False, pad_token_id=0)
    return out[0, prompt.shape[1] :].tolist(), known


def test_the_benchmarks_random_models_write_only_trained_pieces() -> None:
    written, known = _written(protect=True)
    assert len(written) == 60 and max(written) < known
    unprotected, _ = _written(protect=False)
    assert max(unprotected) >= known, "without words_only a random model writes filler: the check would be idle"
