"""Reasoner backend: Phi-2 (``Instruct: …\\nOutput:``) and chat-templated causal LMs such as Phi-3.

The backend keeps the attention (KV) cache of the prompt of its last call. A prompt that starts
with the same tokens (the judge's instructions, or the same scenes with other answer starts) is
computed from where they part, which on a CPU is most of the cost of a prompt. Several answers to
one prompt are weighed or written side by side, in one batch, on that shared cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from veille.backends import _hf
from veille.backends._rows import Rows, left_padded, parting_token, shared_length, tensors
from veille.backends.base import cut_at_stop
from veille.backends.guard import check_finite, model_call

#: Phi-2's question-answering format (its model card); generation stops at the next instruction.
PHI2_FORMAT = "Instruct: {prompt}\nOutput:"
PHI2_STOP = ("Instruct:",)
#: Tokens a batch weighed keeps free in its caches, so the answers that follow can go on in them.
FOLLOW_ROOM = 32


class CausalLMBackend:
    """``AutoModelForCausalLM``. Uses the tokenizer's chat template if it has one, else Phi-2's QA format.

    ``reused_tokens`` / ``computed_tokens`` count prompt tokens taken from the cache and computed.
    """

    def __init__(self, path: Path, options: Any, *, model_id: str, revision: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _, fields = _hf.load_options(options, "reasoner")
        tokenizer = AutoTokenizer.from_pretrained(path)
        source = _hf.int8_source(options, model_id, revision)
        model = _hf.load_model(AutoModelForCausalLM, path, options, "reasoner", **source)
        self._start(model, tokenizer, _hf.model_info(model_id, revision, fields))

    @classmethod
    def around(cls, model: Any, tokenizer: Any, info: Any) -> CausalLMBackend:
        """A backend around a model already loaded and prepared (benchmarks build full-size random ones)."""
        backend = cls.__new__(cls)
        backend._start(model, tokenizer, info)
        return backend

    def _start(self, model: Any, tokenizer: Any, info: Any) -> None:
        self.model, self.tokenizer, self.info = model, tokenizer, info
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self._cache: Any = None
        self._cached_ids: list[int] = []
        self._rows: Rows | None = None
        self.reused_tokens = 0
        self.computed_tokens = 0

    def format(self, prompt: str) -> str:
        """``prompt`` wrapped the way the model was trained to read instructions."""
        if self.chat:
            messages = [{"role": "user", "content": prompt}]
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return PHI2_FORMAT.format(prompt=prompt)

    @model_call
    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``prompt``, cut before the first ``stop`` (and Phi-2's next ``Instruct:``)."""
        return self.continue_answer(prompt, "", max_new_tokens=max_new_tokens, stop=stop)

    @model_call
    def continue_answer(self, prompt: str, answer_start: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``answer_start`` written after ``prompt``, cut before the first ``stop``."""
        return self.continue_each(prompt, [answer_start], max_new_tokens=max_new_tokens, stop=stop)[0]

    @model_call
    def continue_each(
        self, prompt: str, answer_starts: Sequence[str], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> list[str]:
        """The continuation of each answer start after ``prompt``, written side by side in one batch."""
        stops = tuple(stop) + (() if self.chat else PHI2_STOP)
        rows = [self._ids(prompt, start) for start in answer_starts]
        written = self.generate_rows(rows, max_new_tokens=max_new_tokens, stop=stops)
        return [cut_at_stop(self.tokenizer.decode(new, skip_special_tokens=True), stops) for new in written]

    @model_call
    def choose(self, prompt: str, choices: Sequence[str], *, answer_start: str = "") -> list[float] | None:
        """Probabilities of each choice as the next text after ``answer_start``."""
        probs = self.choose_each(prompt, choices, [answer_start])
        return probs[0] if probs else None

    @model_call
    def choose_each(
        self, prompt: str, choices: Sequence[str], answer_starts: Sequence[str]
    ) -> list[list[float]] | None:
        """Probabilities of each choice after each answer start, weighed in one batched forward pass.

        The choices are told apart by the first token where their tokenizations part (after any
        shared token, such as a leading space); None when that token is the same for two of them.
        """
        import torch

        rows, picks = [], []
        for start in answer_starts:
            seqs = [self._ids(prompt, start + choice) for choice in choices]
            part = parting_token(seqs)
            if part is None:
                return None
            rows.append(seqs[0][:part])
            picks.append([s[part] for s in seqs])
        logits = self.last_logits(rows)
        return [torch.softmax(logits[i, pick], dim=-1).tolist() for i, pick in enumerate(picks)]

    def last_logits(self, rows: Sequence[list[int]]) -> Any:
        """The next-token logits (fp32, one row per input) after each token sequence of ``rows``."""
        import torch

        room = FOLLOW_ROOM if len(rows) > 1 else 0
        return torch.cat([self._last_logits(part, room) for part in self._parts(rows, room=room)])

    def generate_rows(
        self, rows: Sequence[list[int]], *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> list[list[int]]:
        """The tokens generated after each of ``rows``, greedily and side by side (batches that fit in memory)."""
        parts = self._parts(rows, room=max_new_tokens)
        return [new for part in parts for new in self._generate_rows(part, max_new_tokens, stop)]

    def _parts(self, rows: Sequence[list[int]], *, room: int) -> list[Sequence[list[int]]]:
        """``rows`` in batches whose per-row caches take at most half the memory left on the model's device."""
        from veille.backends.runtime import spare_bytes

        config = self.model.config.get_text_config()
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        per_token = 2 * config.num_hidden_layers * heads * head_dim * self.model.dtype.itemsize
        per_row = per_token * (max(len(r) for r in rows) + room)
        size = max(1, spare_bytes(_hf.input_device(self.model)) // per_row) if len(rows) > 1 else 1
        return [rows[i : i + size] for i in range(0, len(rows), size)]

    def _last_logits(self, rows: Sequence[list[int]], room: int) -> Any:
        import torch

        cache, done, ids, mask = self._batch(rows, room=room)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with self._forgetting_on_error(), torch.inference_mode():
            out = self.model(
                input_ids=ids[:, done:],
                attention_mask=mask,
                position_ids=position_ids[:, done:],
                cache=cache,
                use_cache=True,
                logits_to_keep=1,  # the next-token scores only (not the vocabulary at every prompt token)
            )
            logits = out.logits[:, -1].float()
            check_finite(logits, "next-token scores")
        if len(rows) > 1:  # answers that go on from these rows can go on in their caches
            self._rows = Rows(cache, list(rows), ids.tolist(), mask.tolist())
        return logits

    def _generate_rows(self, rows: Sequence[list[int]], max_new_tokens: int, stop: Sequence[str]) -> list[list[int]]:
        import torch

        cache, _, ids, mask = self._batch(rows, room=max_new_tokens)
        # a preallocated cache would make transformers compile the model on CUDA, for every new shape
        kwargs = {**_hf.greedy_kwargs(max_new_tokens), "disable_compile": True}
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        kwargs["pad_token_id"] = self._pad
        with self._forgetting_on_error(), torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=mask, cache=cache, **kwargs)
        return [row.tolist() for row in out[:, ids.shape[1] :]]

    @contextmanager
    def _forgetting_on_error(self) -> Iterator[None]:
        """Drop every cache when a model call fails (a half-updated cache would poison the next call)."""
        try:
            yield
        except BaseException:
            self._cache, self._cached_ids, self._rows = None, [], None
            raise

    def _ids(self, prompt: str, answer_start: str) -> list[int]:
        text = self.format(prompt) + answer_start
        return list(self.tokenizer(text, add_special_tokens=not self.chat)["input_ids"])

    def _batch(self, rows: Sequence[list[int]], *, room: int) -> tuple[Any, int, Any, Any]:
        """A cache holding what the rows share, its length, and the rows left-padded after it, with their mask.

        What the rows share is computed once and kept as the next call's cache. A single row
        weighed (``room=0``) goes on in that cache. Otherwise the call works on a copy of it per row,
        made for ``room`` more tokens, so no step copies the whole cache to grow it. Each row's own
        tokens are padded on the left up to the shared part; the mask hides the padding. Rows that
        go on from the rows of the last batch go on in that batch's caches.
        """
        import torch

        device = _hf.input_device(self.model)
        following = self._follow(rows, room)
        if following is not None:
            cache, done, ids, mask = following
            return cache, done, *tensors(ids, mask, device)
        shared = shared_length(rows)
        cache = self._reuse(rows[0][: shared + 1])
        done = cache.get_seq_length()
        if done < shared and (len(rows) > 1 or room):
            with self._forgetting_on_error(), torch.inference_mode():
                prefix = torch.tensor([rows[0][done:shared]], device=device)
                self.model(input_ids=prefix, cache=cache, use_cache=True, logits_to_keep=1)  # no logits wanted
            self.computed_tokens += shared - done
            done = shared
        self.computed_tokens += sum(len(r) - done for r in rows)
        ids, mask = left_padded(
            [r[:done] for r in rows], [[1] * done for _ in rows], [r[done:] for r in rows], self._pad
        )
        if len(rows) > 1 or room:
            cache = self._per_row(cache, len(rows), len(ids[0]) + room)
            self._cached_ids = rows[0][:done]
        else:
            self._cached_ids = rows[0]
        return cache, done, *tensors(ids, mask, device)

    def _follow(self, rows: Sequence[list[int]], room: int) -> tuple[Any, int, list[list[int]], list[list[int]]] | None:
        """The last batch's caches and layout, extended by what each row adds, if every row goes on from its own."""
        last, self._rows = self._rows, None
        if last is None or len(rows) != len(last.rows):
            return None
        if any(len(r) <= len(old) or r[: len(old)] != old for r, old in zip(rows, last.rows, strict=True)):
            return None
        added = [r[len(old) :] for r, old in zip(rows, last.rows, strict=True)]
        ids, mask = left_padded(last.ids, last.mask, added, self._pad)
        if len(ids[0]) + room > last.capacity:
            return None
        self.computed_tokens += sum(len(a) for a in added)
        self.reused_tokens += sum(len(old) for old in last.rows)
        return last.cache, len(last.ids[0]), ids, mask

    @property
    def _pad(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def _per_row(self, prefix: Any, batch: int, length: int) -> Any:
        """A preallocated cache of ``batch`` rows and ``length`` tokens, each row starting with ``prefix``."""
        from transformers import StaticCache

        cache = StaticCache(config=self.model.config, max_cache_len=length)
        for layer, source in zip(cache.layers, prefix.layers, strict=True):
            if source.is_initialized and source.keys.shape[-2]:
                layer.update(source.keys.expand(batch, -1, -1, -1), source.values.expand(batch, -1, -1, -1))
        return cache

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
        return self._cache

    def close(self) -> None:
        """Free the model and its cache."""
        model, self.model, self._cache, self._cached_ids = self.model, None, None, []
        _hf.free(model)
