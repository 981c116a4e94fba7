"""The transformers backend for causal LMs: chat templates, scoring, generation, token counts.

model = HFCausalLM.load("smollm2-135m-instruct")
model.score([ScoreRequest("Review: great film\\nSentiment:", (" positive", " negative"))])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bakeoff.device import free_gpu_bytes, is_gpu, module_device
from bakeoff.models.base import (
    Generation,
    OptionScores,
    Progress,
    ScoreRequest,
    common_prefix_length,
)
from bakeoff.models.hf_scoring import (
    ScoreItem,
    cache_keyword,
    expand_cache,
    items_for_request,
    option_logprobs,
    plan_batches,
    soft_prefix_cache,
    soft_prompt,
)
from bakeoff.models.hf_tree import (
    additive_mask,
    option_tree,
    tree_batch,
    tree_items,
    tree_logprobs,
)
from bakeoff.models.loading import load_pretrained, load_tokenizer
from bakeoff.models.registry import resolve
from bakeoff.precision import DTYPES, compute_dtype
from bakeoff.task.output import OutputSpec


def copy_module(module: Any, dtype: torch.dtype | None = None) -> Any:
    """A deep copy of `module`, its floating-point tensors cast to `dtype` on the way — no
    full-precision intermediate copy, so a bf16 twin costs half the memory, not one and a half."""
    import copy

    memo: dict[int, Any] = {}
    if dtype is not None:
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point() and id(tensor) not in memo:
                cast = tensor.detach().to(dtype)
                if isinstance(tensor, torch.nn.Parameter):
                    cast = torch.nn.Parameter(cast, requires_grad=tensor.requires_grad)
                memo[id(tensor)] = cast
    return copy.deepcopy(module, memo)


MIN_SHARED_PREFIX = 4  # tokens; below this a prefix cache is not worth building
GPU_MEMORY_SHARE = 0.5  # of the memory free after loading, for one scoring batch's activations


def batch_tokens_for(model: Any, device: str, cpu_tokens: int) -> int:
    """Tokens per scoring batch: on the CPU `cpu_tokens` (measured fastest there); on a GPU
    as many as half its free memory holds — each token's keys and values in every layer, its
    hidden states and one row of logits (fp32), with room for the MLP's intermediate."""
    if not is_gpu(device):
        return cpu_tokens
    config = model.config
    hidden = int(getattr(config, "hidden_size", 1024))
    layers = int(getattr(config, "num_hidden_layers", 24))
    vocab = int(getattr(config, "vocab_size", 50_000))
    intermediate = int(getattr(config, "intermediate_size", 4 * hidden))
    per_token = 4 * (2 * layers * hidden + 4 * hidden + intermediate + vocab)
    fits = int(GPU_MEMORY_SHARE * free_gpu_bytes(device)) // per_token
    return max(cpu_tokens, min(fits, 262_144))


@dataclass(frozen=True)
class ScoringPass:
    """What one `score` call runs: the module, the prefix KV cache (or None) and how many
    positions that cache holds; `adds_tokens`: the module's forward puts tokens of its own
    before the inputs (a soft prompt run through PEFT), so no cache, trees or split head."""

    module: Any
    prefix: object
    cached: int
    adds_tokens: bool = False


def head_split(model: Any) -> tuple[Any, Any] | None:
    """(decoder, lm_head) when logits are a plain projection of the last hidden state."""
    if getattr(model.config, "final_logit_softcapping", None) or not hasattr(model, "get_decoder"):
        return None
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    if decoder is None or head is None or decoder is model:
        return None
    return decoder, head


class HFCausalLM:
    """A causal LM run by transformers in this process."""

    # its constrained decoding is llguidance's compact JSON grammar, so a shape's byte bound
    # (task/output_bounds.py) holds: decodes get the budget their shape fits in, not doubled
    shape_spaced = False

    def __init__(self, model: Any, tokenizer: Any, name: str, *, max_batch_tokens: int = 2048):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.max_batch_tokens = max_batch_tokens
        self.n_parameters = sum(p.numel() for p in model.parameters())
        self.cache_prefix = True  # off for models whose forward() adds tokens (soft prompts)
        self.tree_scoring = True  # options as token trees (hf_tree.py); off: one sequence each
        # reduced-precision inference: a bf16 (fp16 on a GPU without bf16) copy of the frozen
        # weights scores and generates where precision.py chose it; the fp32 weights stay the
        # master for fine-tuning
        self.inference_dtype = torch.float32
        self.weights_reduced = False  # the weights themselves are reduced (a tuned copy's base)
        self._reduced_model: Any = None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def load(
        cls,
        name: str,
        *,
        dtype: str = "float32",
        trust_remote_code: bool = False,
        inference_precision: str = "fp32",
        device: str = "cpu",
    ) -> HFCausalLM:
        from transformers import AutoModelForCausalLM

        source = resolve(name, kind="causal")
        tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
        model = load_pretrained(
            AutoModelForCausalLM,
            source,
            trust_remote_code=trust_remote_code,
            dtype=getattr(torch, dtype),
        )
        lm = cls(model.to(device), tokenizer, name)
        lm.max_batch_tokens = batch_tokens_for(model, device, lm.max_batch_tokens)
        lm.inference_dtype = compute_dtype(inference_precision, "inference", device)
        return lm

    @property
    def device(self) -> str:
        return str(module_device(self.model))

    @property
    def inference_precision(self) -> str:
        """fp32, bf16 or fp16: what scoring and generation run in (artifacts record it)."""
        return next(k for k, v in DTYPES.items() if v == self.inference_dtype)

    @property
    def runner(self) -> Any:
        """The module that scores and generates: the weights, or their reduced copy."""
        if self.inference_dtype == torch.float32 or self.weights_reduced:
            return self.model
        if self._reduced_model is None:
            self._reduced_model = copy_module(self.model, self.inference_dtype).eval()
        return self._reduced_model

    def copy(self, dtype: torch.dtype | None = None) -> HFCausalLM:
        """An independent copy of the weights (to fine-tune without touching this one), in
        `dtype` if given; it predicts with its own weights, since they change while it trains."""
        twin = HFCausalLM(
            copy_module(self.model, dtype),
            self.tokenizer,
            self.name,
            max_batch_tokens=self.max_batch_tokens,
        )
        twin.weights_reduced = dtype not in (None, torch.float32)
        return twin

    # --- text <-> tokens -------------------------------------------------------------
    @property
    def context_tokens(self) -> int:
        """The longest sequence the model's positions cover (2048 when its config is silent)."""
        return int(getattr(self.model.config, "max_position_embeddings", None) or 2048)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return str(
            self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    def encode_prompt(self, text: str) -> list[int]:
        """Prompt tokens; BOS added unless the text (a rendered chat) already has it."""
        bos = self.tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        return list(self.tokenizer(text, add_special_tokens=add_special).input_ids)

    def encode_continuation(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def count_tokens(self, text: str) -> int:
        return len(self.encode_prompt(text))

    # --- scoring ---------------------------------------------------------------------
    @torch.inference_mode()
    def score(
        self, requests: Sequence[ScoreRequest], progress: Progress | None = None
    ) -> list[OptionScores]:
        prompts = [self.encode_prompt(r.prompt) for r in requests]
        option_ids: dict[str, list[int]] = {}
        for r in requests:
            for opt in r.options:
                if opt not in option_ids:
                    option_ids[opt] = self.encode_continuation(opt)
                    if not option_ids[opt]:
                        raise ValueError(f"option {opt!r} encodes to no tokens")
        soft = soft_prompt(self.runner)
        if soft is not None:  # the virtual tokens and the shared text: one prefix cache
            shared = common_prefix_length(prompts)
            module, virtual = soft
            prefix = soft_prefix_cache(module, virtual, prompts[0][:shared])
            scoring = ScoringPass(module, prefix, len(virtual) + shared)
        else:
            shared = self.shared_prefix_length(prompts)
            prefix = self._prefix_cache(prompts[0][:shared]) if shared else None
            scoring = ScoringPass(self.runner, prefix, shared, adds_tokens=not self.cache_prefix)

        suffixes = [p[shared:] for p in prompts]
        options = [tuple(tuple(option_ids[o]) for o in r.options) for r in requests]
        if self._tree_fits(scoring, suffixes, options):
            logprobs = self._score_trees(suffixes, options, scoring, progress)
        else:
            logprobs = self._score_items(suffixes, options, scoring, progress)
        return [
            OptionScores(tuple(lps), tuple(len(option_ids[o]) for o in r.options), len(p))
            for lps, r, p in zip(logprobs, requests, prompts, strict=True)
        ]

    @torch.inference_mode()
    def next_tokens(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        out = []
        for prompt in prompts:
            ids = torch.tensor([self.encode_prompt(prompt)], device=module_device(self.runner))
            logits = self.runner(ids).logits[0, -1].cpu()
            values, ids = torch.log_softmax(logits.float(), -1).topk(top_k)
            texts = [self.tokenizer.decode([i]) for i in ids.tolist()]
            out.append(dict(zip(texts, values.tolist(), strict=True)))
        return out

    def shared_prefix_length(self, prompts: Sequence[Sequence[int]]) -> int:
        """Tokens every prompt starts with, worth one prefix cache for all (0: none)."""
        shared = common_prefix_length(prompts)
        return shared if shared >= MIN_SHARED_PREFIX and self.cache_prefix else 0

    def _tree_fits(
        self,
        scoring: ScoringPass,
        suffixes: list[list[int]],
        options: list[tuple[tuple[int, ...], ...]],
    ) -> bool:
        """Whether option trees (hf_tree.py) can score these rows: the forward adds no tokens
        of its own, and no row outgrows a sliding attention window (a custom mask replaces the
        window's)."""
        if not self.tree_scoring or scoring.adds_tokens:
            return False
        window = getattr(self.model.config, "sliding_window", None)
        if not window:
            return True
        longest = max(
            len(s) + len(option_tree(o).node_tokens) for s, o in zip(suffixes, options, strict=True)
        )
        return scoring.cached + longest <= window

    def _score_trees(
        self,
        suffixes: list[list[int]],
        options: list[tuple[tuple[int, ...], ...]],
        scoring: ScoringPass,
        progress: Progress | None,
    ) -> list[list[float]]:
        logprobs: list[list[float]] = [[] for _ in suffixes]
        dtype = next(scoring.module.parameters()).dtype
        items = tree_items(suffixes, options)
        for batch in plan_batches(items, self.max_batch_tokens, lambda it: it.width):
            inputs = tree_batch(batch, scoring.cached, self.tokenizer.pad_token_id)
            mask = additive_mask(inputs.allowed, dtype)
            states, head = self._forward(scoring, inputs.input_ids, mask, inputs.position_ids)
            sums = tree_logprobs(states, head, batch)
            for item, lps in zip(batch, sums, strict=True):
                logprobs[item.request] = lps
            if progress:
                progress(len(batch))
        return logprobs

    def _score_items(
        self,
        suffixes: list[list[int]],
        options: list[tuple[tuple[int, ...], ...]],
        scoring: ScoringPass,
        progress: Progress | None,
    ) -> list[list[float]]:
        """One sequence per multi-token option (and one for a row's single-token options)."""
        items = [
            item
            for i, (suffix, opts) in enumerate(zip(suffixes, options, strict=True))
            for item in items_for_request(i, suffix, [list(o) for o in opts])
        ]
        logprobs: list[list[float]] = [[0.0] * len(opts) for opts in options]
        remaining = [len(opts) for opts in options]
        for batch in plan_batches(items, self.max_batch_tokens, lambda it: len(it.ids)):
            for item, lps in zip(batch, self._score_batch(batch, scoring), strict=True):
                for j, lp in zip(item.options, lps, strict=True):
                    logprobs[item.request][j] = lp
                remaining[item.request] -= len(item.options)
                if remaining[item.request] == 0 and progress:
                    progress(1)
        return logprobs

    def _prefix_cache(self, ids: list[int]) -> object:
        out = self.runner(torch.tensor([ids], device=module_device(self.runner)), use_cache=True)
        return getattr(out, cache_keyword())

    def _score_batch(self, batch: list[ScoreItem], scoring: ScoringPass) -> list[list[float]]:
        shared = scoring.cached
        width = max(len(it.ids) for it in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for row, item in enumerate(batch):
            input_ids[row, : len(item.ids)] = torch.tensor(item.ids)
            mask[row, shared : shared + len(item.ids)] = 1
        positions = None
        if scoring.prefix is not None:
            positions = torch.arange(shared, shared + width)[None].expand(len(batch), -1)
        states, head = self._forward(scoring, input_ids, mask, positions)
        return option_logprobs(lambda row, lo, hi: head(states[row, lo:hi]), batch)

    @staticmethod
    def _forward(
        scoring: ScoringPass, input_ids: torch.Tensor, mask: torch.Tensor, positions: Any
    ) -> tuple[torch.Tensor, Any]:
        """One scoring pass after the prefix cache (if any): (hidden states, the LM head) where
        the head can run apart — only where an option is predicted, ~20% less work — else
        (logits, identity)."""
        prefix = scoring.prefix
        device = module_device(scoring.module)
        input_ids = input_ids.to(device)
        kwargs: dict[str, Any] = {
            "attention_mask": mask.to(device),
            "use_cache": prefix is not None,
        }
        if positions is not None:
            kwargs["position_ids"] = positions.to(device)
        if prefix is not None:
            kwargs[cache_keyword()] = expand_cache(prefix, len(input_ids))
        split = None if scoring.adds_tokens else head_split(scoring.module)
        if split is None:
            logits = scoring.module(input_ids, **kwargs).logits
            # a forward that adds tokens puts them first: the inputs' logits are the last ones
            return logits[:, -input_ids.shape[1] :], lambda states: states
        decoder, head = split
        return decoder(input_ids, **kwargs).last_hidden_state, head

    # --- generation ------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
        constraint: OutputSpec | None = None,
    ) -> list[Generation]:
        from bakeoff.models.hf_generate import generate_batched

        return generate_batched(
            self,
            prompts,
            max_new_tokens=max_new_tokens,
            stop=stop,
            temperature=temperature,
            seed=seed,
            progress=progress,
            constraint=constraint,
        )
