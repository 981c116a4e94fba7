"""Batched log-likelihood scoring with a shared-prefix KV cache.

Every prompt of a run usually starts with the same instruction (and demos): that prefix is
run through the model once and its keys/values are reused by every row and every option.
Rows are sorted by length and right-padded, so real tokens never attend to padding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch


@dataclass
class ScoreItem:
    """One sequence to run. Single-token options of a request share one item (all are read
    from the logits after the prompt); a multi-token option gets an item of its own."""

    request: int  # index of the request
    options: list[int]  # indices of the options this item scores
    option_tokens: list[list[int]]  # their token ids
    ids: list[int]  # prompt suffix (after the shared prefix) [+ the one multi-token option]
    option_start: int  # position in `ids` where the option begins


def items_for_request(request: int, suffix: list[int], options: list[list[int]]) -> list[ScoreItem]:
    single = [j for j, toks in enumerate(options) if len(toks) == 1]
    items = []
    if single:
        items.append(ScoreItem(request, single, [options[j] for j in single], suffix, len(suffix)))
    for j, toks in enumerate(options):
        if len(toks) > 1:
            items.append(ScoreItem(request, [j], [toks], suffix + toks, len(suffix)))
    return items


T = TypeVar("T")


def plan_batches(items: list[T], max_tokens: int, width: Callable[[T], int]) -> list[list[T]]:
    """Group items longest first so each padded batch holds at most `max_tokens` tokens."""
    ordered = sorted(items, key=lambda it: -width(it))
    batches: list[list[T]] = []
    current: list[T] = []
    for item in ordered:
        if current and width(current[0]) * (len(current) + 1) > max_tokens:
            batches.append(current)
            current = []
        current.append(item)
    if current:
        batches.append(current)
    return batches


@functools.cache
def cache_keyword() -> str:
    """The name transformers gives a KV cache, as a forward() keyword and an output field:
    `cache` in recent v5 releases (`past_key_values` is still accepted there, with a
    FutureWarning on every call, and read from an output with a logged one); `past_key_values`
    before."""
    from transformers.modeling_outputs import BaseModelOutputWithPast

    return "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


def expand_cache(prefix: object, batch: int) -> object:
    """A fresh DynamicCache holding the prefix keys/values repeated `batch` times."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer_idx, layer in enumerate(prefix.layers):  # type: ignore[attr-defined]
        keys = layer.keys.expand(batch, -1, -1, -1).contiguous()
        values = layer.values.expand(batch, -1, -1, -1).contiguous()
        cache.update(keys, values, layer_idx)
    return cache


LogitsAt = Callable[[int, int, int], torch.Tensor]  # (row, first, last+1) -> (n, V) logits


def option_logprobs(logits_at: LogitsAt, batch: list[ScoreItem]) -> list[list[float]]:
    """Summed log-probability of each item's options."""
    out = []
    for row, item in enumerate(batch):
        start = item.option_start
        scores = []
        for toks in item.option_tokens:
            # logits at t predict token t+1: positions start-1 .. start+len-2 predict the option
            step = torch.log_softmax(logits_at(row, start - 1, start - 1 + len(toks)).float(), -1)
            targets = torch.tensor(toks, device=step.device)[:, None]  # (O, 1)
            scores.append(float(step.gather(1, targets).sum()))
        out.append(scores)
    return out


def soft_prompt(model: Any) -> tuple[Any, torch.Tensor] | None:
    """(the base model, the soft prompt's vectors (n, d)) for a PEFT prompt-tuning model —
    scored as a prefix cache of those vectors on the base model, so rows share it and options
    score as trees — else None."""
    config = getattr(model, "active_peft_config", None)
    if config is None or getattr(config, "peft_type", None) != "PROMPT_TUNING":  # a str enum
        return None
    return model.get_base_model(), model.get_prompt(batch_size=1)[0]


def soft_prefix_cache(module: Any, virtual: torch.Tensor, ids: list[int]) -> object:
    """The KV cache of a soft prompt's vectors and then `ids`, at positions 0, 1, … — as
    PEFT's forward runs them (it prepends the vectors and gives no position ids)."""
    embedding = module.get_input_embeddings()
    embeds = embedding(torch.tensor([ids], dtype=torch.long, device=embedding.weight.device))
    inputs = torch.cat([virtual.to(embeds.dtype)[None], embeds], dim=1)
    return getattr(module(inputs_embeds=inputs, use_cache=True), cache_keyword())
