"""Reasoner backend: Phi-2 (``Instruct: …\\nOutput:``) and chat-templated causal LMs such as Phi-3."""

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
    """``AutoModelForCausalLM``. Uses the tokenizer's chat template if it has one, else Phi-2's QA format."""

    def __init__(self, path: Path, options: Any, *, model_id: str, revision: str | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs, fields = _hf.load_options(options, "reasoner")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
        self.info = _hf.model_info(model_id, revision, fields)
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))

    def format(self, prompt: str) -> str:
        """``prompt`` wrapped the way the model was trained to read instructions."""
        if self.chat:
            messages = [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return PHI2_FORMAT.format(prompt=prompt)

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        """The continuation of ``prompt``, cut before the first ``stop`` (and Phi-2's next ``Instruct:``)."""
        import torch

        stops = tuple(stop) + (() if self.chat else PHI2_STOP)
        inputs = self.tokenizer(self.format(prompt), return_tensors="pt", add_special_tokens=not self.chat)
        inputs = inputs.to(_hf.input_device(self.model))
        kwargs = _hf.greedy_kwargs(max_new_tokens)
        if stops:
            kwargs.update(stop_strings=list(stops), tokenizer=self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            kwargs["pad_token_id"] = self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        text = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return cut_at_stop(text, stops)

    def close(self) -> None:
        """Free the model."""
        model, self.model = self.model, None
        _hf.free(model)
