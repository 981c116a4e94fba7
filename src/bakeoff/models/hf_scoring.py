"""Batched log-likelihood scoring with a shared-prefix KV cache.

Every prompt of a run usually starts with the same instruction (and demos): that prefix is
run through the model once and its keys/values are reused by every row and every option.
Rows are sorted by length and right-padded, so real tokens never attend to padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class ScoreItem:
    request: int  # index of the request
    option: int  # index of the option within the request
    ids: list[int]  # prompt suffix (after the shared prefix) + option tokens
    option_start: int  # position in `ids` where the option begins


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix shared by all sequences, leaving each at least one token."""
    if not sequences:
        return 0
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    n = 0
    while n < limit and all(s[n] == first[n] for s in sequences):
        n += 1
    return max(n, 0)


def plan_batches(items: list[ScoreItem], max_tokens: int) -> list[list[ScoreItem]]:
    """Group items longest first so each padded batch holds at most `max_tokens` tokens."""
    ordered = sorted(items, key=lambda it: -len(it.ids))
    batches: list[list[ScoreItem]] = []
    current: list[ScoreItem] = []
    for item in ordered:
        width = len(current[0].ids) if current else len(item.ids)
        if current and width * (len(current) + 1) > max_tokens:
            batches.append(current)
            current = []
        current.append(item)
    if current:
        batches.append(current)
    return batches


def expand_cache(prefix: object, batch: int) -> object:
    """A fresh DynamicCache holding the prefix keys/values repeated `batch` times."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer_idx, layer in enumerate(prefix.layers):  # type: ignore[attr-defined]
        keys = layer.keys.expand(batch, -1, -1, -1).contiguous()
        values = layer.values.expand(batch, -1, -1, -1).contiguous()
        cache.update(keys, values, layer_idx)
    return cache


def option_logprobs(
    logits: torch.Tensor, batch: list[ScoreItem], input_ids: torch.Tensor
) -> list[float]:
    """Summed log-probability of each item's option tokens. logits: (B, T, V)."""
    out = []
    for row, item in enumerate(batch):
        start, end = item.option_start, len(item.ids)
        # logits at t predict token t+1: positions start-1 .. end-2 predict the option
        step_logits = logits[row, start - 1 : end - 1].float()  # (O, V)
        targets = input_ids[row, start:end]  # (O,)
        logp = torch.log_softmax(step_logits, dim=-1).gather(1, targets[:, None])
        out.append(float(logp.sum()))
    return out
