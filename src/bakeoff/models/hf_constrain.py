"""Decoding under a task's output shape on the transformers backend: one llguidance matcher per
row masks the logits at every step to the tokens the shape still allows, and the row ends when
its matcher has a complete output (task/output.py says why llguidance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from bakeoff.models.hf import HFCausalLM

BITS = torch.arange(32, dtype=torch.int32)


def ll_tokenizer(lm: HFCausalLM) -> Any:
    """The model's tokenizer for llguidance (about a second to build: kept on the model)."""
    cached = getattr(lm, "_ll_tokenizer", None)
    if cached is None:
        from llguidance.hf import from_tokenizer

        vocab = int(lm.model.config.vocab_size)  # the logits' width (may exceed the tokenizer)
        cached = from_tokenizer(lm.tokenizer, n_vocab=vocab, eos_token=lm.tokenizer.eos_token_id)
        lm._ll_tokenizer = cached  # type: ignore[attr-defined]
    return cached


class ShapeMask:
    """A LogitsProcessor and a StoppingCriteria for one batch of rows under one shape."""

    def __init__(self, lm: HFCausalLM, grammar: str, rows: int, prompt_width: int):
        """`grammar`: the shape's llguidance grammar (OutputSpec.grammar())."""
        from llguidance import LLMatcher

        tokenizer = ll_tokenizer(lm)
        self.matchers = [LLMatcher(tokenizer, grammar) for _ in range(rows)]
        self.words = (int(lm.model.config.vocab_size) + 31) // 32
        self.prompt_width = prompt_width
        self.eos = tokenizer.eos_token

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        from llguidance.torch import fill_next_token_bitmask

        mask = torch.zeros((len(self.matchers), self.words), dtype=torch.int32)
        for row, matcher in enumerate(self.matchers):
            if input_ids.shape[1] > self.prompt_width and not matcher.is_stopped():
                matcher.consume_token(int(input_ids[row, -1]))  # the token chosen last step
            if matcher.is_stopped() or matcher.is_error():
                bit = self.eos % 32  # only the end remains (bit 31 is the int32 sign bit)
                mask[row, self.eos // 32] = (1 << bit) if bit < 31 else -(1 << 31)
            else:
                fill_next_token_bitmask(matcher, mask, row)
        allowed = ((mask.unsqueeze(-1) >> BITS) & 1).reshape(len(self.matchers), -1).bool()
        allowed = allowed[:, : scores.shape[1]].to(scores.device)
        return scores.masked_fill(~allowed, float("-inf"))

    def finished(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        """StoppingCriteria: rows whose output is complete (they have emitted the end)."""
        done = [m.is_stopped() or m.is_error() for m in self.matchers]
        return torch.tensor(done, device=input_ids.device)
