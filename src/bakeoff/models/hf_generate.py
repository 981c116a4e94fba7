"""Batched generation with stop strings for the transformers backend."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import TYPE_CHECKING, Any

import torch

from bakeoff.device import module_device
from bakeoff.models.base import Generation, Progress, common_prefix_length, cut_at_stop
from bakeoff.models.hf_scoring import cache_keyword, expand_cache, soft_prefix_cache, soft_prompt
from bakeoff.task.output import OutputSpec

if TYPE_CHECKING:
    from bakeoff.models.hf import HFCausalLM


class StopOnStrings:
    """Stops each sequence once its new text holds a stop string after some content."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_width: int):
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        new = input_ids[:, self.prompt_width :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        done = [cut_at_stop(text, self.stop)[1] for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def generate_batched(
    lm: HFCausalLM,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop: Sequence[str],
    temperature: float,
    seed: int,
    progress: Progress | None,
    batch_size: int = 8,
    constraint: OutputSpec | None = None,
) -> list[Generation]:
    """`constraint`: every output has this shape (models/hf_constrain.py); the shape, not the
    stop strings, ends each output."""
    from transformers import LogitsProcessorList, StoppingCriteriaList

    from bakeoff.models.hf_constrain import ShapeMask

    tokenizer = lm.tokenizer
    grammar = constraint.grammar() if constraint is not None else None
    encoded = [lm.encode_prompt(p) for p in prompts]
    model, prefix, shared, virtual = _prefix_of(lm, encoded)
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    chunks = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if not lm.cache_prefix and virtual == 0:
        # a forward that adds tokens of its own and drops position ids: a left-padded row
        # would read its prompt at shifted positions — one length a batch
        by_length = [list(rows) for _, rows in groupby(order, key=lambda i: len(encoded[i]))]
        chunks = [
            rows[s : s + batch_size] for rows in by_length for s in range(0, len(rows), batch_size)
        ]
    results: dict[int, Generation] = {}
    torch.manual_seed(seed)
    for chunk in chunks:
        # [soft prompt][shared prefix][padding][rest of the prompt]: every prompt ends at the
        # same column, the keys/values of the soft prompt's vectors (stand-in ids: generate()
        # never embeds cached columns) and the prefix are computed once for the whole call, and
        # the positions generate() derives from the mask skip the padding
        width = virtual + max(len(encoded[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        ids[:, virtual : virtual + shared] = torch.tensor(encoded[chunk[0]][:shared])
        mask[:, : virtual + shared] = 1
        for row, i in enumerate(chunk):
            rest = encoded[i][shared:]
            ids[row, width - len(rest) :] = torch.tensor(rest)
            mask[row, width - len(rest) :] = 1
        cached: dict[str, Any] = {}
        if prefix is not None:
            cached[cache_keyword()] = expand_cache(prefix, len(chunk))
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        if grammar is not None:
            shape = ShapeMask(lm, grammar, len(chunk), width)
            steering: dict[str, Any] = {
                "logits_processor": LogitsProcessorList([shape]),
                "stopping_criteria": StoppingCriteriaList([shape.finished]),
            }
        else:
            criteria = [StopOnStrings(tokenizer, stop, width)]
            steering = {"stopping_criteria": StoppingCriteriaList(criteria)}
        device = module_device(model)
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **cached,
            **steering,
            **sampling,
        )
        out = out.cpu()
        for row, i in enumerate(chunk):
            new_ids = out[row, width:]
            keep = new_ids[new_ids != tokenizer.pad_token_id]
            text = tokenizer.decode(keep, skip_special_tokens=True)
            if constraint is None:
                text, _ = cut_at_stop(text, stop)
            results[i] = Generation(text.strip(), len(encoded[i]), int(keep.numel()))
        if progress:
            progress(len(chunk))
    return [results[i] for i in range(len(prompts))]


def _prefix_of(lm: HFCausalLM, encoded: list[list[int]]) -> tuple[Any, object, int, int]:
    """(the module that generates, the prefix KV cache or None, the shared prompt tokens it
    holds, the soft prompt's vectors before them): a PEFT soft prompt generates from the base
    model after a cache of its vectors, so prompts of any length share a batch."""
    soft = soft_prompt(lm.runner)
    if soft is not None:
        module, vectors = soft
        shared = common_prefix_length(encoded)
        return (
            module,
            soft_prefix_cache(module, vectors, encoded[0][:shared]),
            shared,
            len(vectors),
        )
    shared = lm.shared_prefix_length(encoded)
    prefix = lm._prefix_cache(encoded[0][:shared]) if shared else None
    return lm.runner, prefix, shared, 0
