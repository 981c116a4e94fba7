"""How each causal-LM method makes weights trainable (PEFT-style: one function per method)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bakeoff.errors import BakeoffError
from bakeoff.finetuning.config import LoraSettings, PromptTuningSettings

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


def linear_layer_names(model: torch.nn.Module) -> list[str]:
    names = {
        n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    return sorted(names - {"lm_head"})


def lora_targets(model: torch.nn.Module, requested: list[str] | str) -> list[str]:
    available = linear_layer_names(model)
    if requested == "auto":
        found = [n for n in ATTENTION_PROJECTIONS if n in available]
        return found or available
    unknown = [n for n in requested if n not in available]
    if unknown:
        raise BakeoffError(
            f"--lora-targets: {', '.join(unknown)} not in this model; its linear layers are: "
            f"{', '.join(available)}."
        )
    return list(requested)


def apply_lora(model: Any, settings: LoraSettings, **_: Any) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_targets(model, settings.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def apply_full(model: Any, **_: Any) -> torch.nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def apply_prompt_tuning(
    model: Any, settings: PromptTuningSettings, init_ids: list[int], **_: Any
) -> torch.nn.Module:
    """A soft prompt of `virtual_tokens` vectors, started from the instruction's embeddings."""
    from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

    config = PromptTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=settings.virtual_tokens,
        prompt_tuning_init=PromptTuningInit.RANDOM,
    )
    peft_model: Any = get_peft_model(model, config)
    if init_ids:
        ids = (init_ids * (settings.virtual_tokens // len(init_ids) + 1))[: settings.virtual_tokens]
        embed = model.get_input_embeddings()
        with torch.no_grad():
            start = embed(torch.tensor(ids)).detach().clone()
            peft_model.prompt_encoder["default"].embedding.weight.copy_(start)
    return peft_model


MethodFn = Callable[..., torch.nn.Module]
METHODS: dict[str, MethodFn] = {
    "lora": apply_lora,
    "full": apply_full,
    "prompt-tuning": apply_prompt_tuning,
}


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
