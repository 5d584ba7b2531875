"""Reasoner backend: Phi-2 (``Instruct: …\\nOutput:``) and chat-templated causal LMs such as Phi-3.

The backend keeps the attention (KV) cache of its last call. A prompt that starts with the same
tokens as the previous one (the judge's instructions and scenes, growing by one verdict at a
time) is computed from where they part, which on a CPU is most of the cost of a prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from veille.backends import _hf
from veille.backends.base import cut_at_stop

#: Phi-2's question-answering format (its model card); generation stops at the next instruction.
PHI2_FORMAT = "Instruct: {prompt}\nOutput:"
PHI2_STOP = ("Instruct:",)


class CausalLMBackend:
    """``AutoModelForCausalLM``. Uses the tokenizer's chat template if it has one, else Phi-2's QA format.

    ``reused_tokens`` / ``computed_tokens`` count prompt tokens taken from the cache and computed.
    """

    def __init__(self, path: Path, options: Any, *, model_id: str, revision: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs, fields = _hf.load_options(options, "reasoner")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = _hf.prepare(AutoModelForCausalLM.from_pretrained(path, **kwargs).eval(), fields)
        self.info = _hf.model_info(model_id, revision, fields)
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        self._cache: Any = None
        self._cached_ids: list[int] = []
        self.reused_tokens = 0
        self.computed_tokens = 0

    def format(self, prompt: str) -> str:
        """``prompt`` wrapped the way the model was trained to read instructions."""
        if self.chat:
            messages = [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return PHI2_FORMAT.format(prompt=prompt)

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``prompt``, cut before the first ``stop`` (and Phi-2's next ``Instruct:``)."""
        return self.continue_answer(prompt, "", max_new_tokens=max_new_tokens, stop=stop)

    def continue_answer(self, prompt: str, answer_start: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``answer_start`` written after ``prompt``, cut before the first ``stop``."""
        import torch

        stops = tuple(stop) + (() if self.chat else PHI2_STOP)
        ids = self._ids(prompt, answer_start)
        cache = self._reuse(ids)
        input_ids = torch.tensor([ids], device=_hf.input_device(self.model))
        kwargs = _hf.greedy_kwargs(max_new_tokens)
        if stops:
            kwargs.update(stop_strings=list(stops), tokenizer=self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            kwargs["pad_token_id"] = self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), cache=cache, **kwargs
            )
        self._cached_ids = out[0, : cache.get_seq_length()].tolist()
        text = self.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        return cut_at_stop(text, stops)

    def choose(self, prompt: str, choices: Sequence[str], *, answer_start: str = "") -> list[float] | None:
        """Probabilities of each choice as the next text after ``answer_start``.

        The choices are told apart by the first token where their tokenizations part (after any
        shared token, such as a leading space); None when that token is the same for two of them.
        """
        import torch

        seqs = [self._ids(prompt, answer_start + choice) for choice in choices]
        part = 0
        while all(len(s) > part for s in seqs) and len({s[part] for s in seqs}) == 1:
            part += 1
        if part == 0 or any(len(s) <= part for s in seqs) or len({s[part] for s in seqs}) < len(seqs):
            return None
        ids = seqs[0][:part]
        cache = self._reuse(ids)
        done = cache.get_seq_length()
        device = _hf.input_device(self.model)
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids[done:]], device=device), cache=cache, use_cache=True)
        self._cached_ids = ids
        logits = out.logits[0, -1, [s[part] for s in seqs]].float()
        return torch.softmax(logits, dim=-1).tolist()

    def _ids(self, prompt: str, answer_start: str) -> list[int]:
        text = self.format(prompt) + answer_start
        return list(self.tokenizer(text, add_special_tokens=not self.chat)["input_ids"])

    def _reuse(self, ids: list[int]) -> Any:
        """The cache cut back to the longest prefix ``ids`` shares with the last call (one token left to compute)."""
        from transformers import DynamicCache

        same, limit = 0, min(len(ids) - 1, len(self._cached_ids))
        while same < limit and ids[same] == self._cached_ids[same]:
            same += 1
        if self._cache is None or same == 0:
            self._cache, same = DynamicCache(config=self.model.config), 0
        else:
            self._cache.crop(same - self._cache.get_seq_length())
        self.reused_tokens += same
        self.computed_tokens += len(ids) - same
        return self._cache

    def close(self) -> None:
        """Free the model and its cache."""
        model, self.model, self._cache, self._cached_ids = self.model, None, None, []
        _hf.free(model)
