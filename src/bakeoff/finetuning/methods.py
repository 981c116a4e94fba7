"""Helpers shared by the causal-LM methods: which linear layers there are, what trains."""

from __future__ import annotations

import torch

from bakeoff.errors import BakeoffError

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


def linear_layer_names(model: torch.nn.Module) -> list[str]:
    names = {
        n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    return sorted(names - {"lm_head"})


def lora_targets(model: torch.nn.Module, requested: list[str] | str) -> list[str]:
    """The layer names to adapt: `attention`, `all-linear` or names of `model`'s own."""
    available = linear_layer_names(model)
    if requested == "all-linear":
        return available
    if requested == "attention":
        found = [n for n in ATTENTION_PROJECTIONS if n in available]
        return found or available
    unknown = [n for n in requested if n not in available]
    if unknown:
        raise BakeoffError(
            f"--lora-targets: {', '.join(unknown)} not in this model; its linear layers are: "
            f"{', '.join(available)}."
        )
    return list(requested)


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
