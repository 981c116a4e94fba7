"""Which layers `lora` adapts: every linear layer for classification (at 32/class above the
attention projections on TREC, SST-2, AG News and Banking77, docs/finetuning.md), the attention
projections for generation; a setting wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.finetuning.config import LoraSettings
from bakeoff.finetuning.lora import apply_lora, explain_targets
from bakeoff.finetuning.methods import ATTENTION_PROJECTIONS, linear_layer_names

ATTENTION = set(ATTENTION_PROJECTIONS)


def adapted_layers(model_dir: Path, settings: LoraSettings, classes: int) -> set[str]:
    from transformers import AutoModelForCausalLM

    model = apply_lora(AutoModelForCausalLM.from_pretrained(model_dir), settings, classes=classes)
    return {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}


@pytest.mark.parametrize(
    ("settings", "classes", "every_linear"),
    [
        (LoraSettings(), 0, False),  # generation: no classes
        (LoraSettings(), 2, True),  # SST-2
        (LoraSettings(), 77, True),  # Banking77
        (LoraSettings(target_modules="attention"), 77, False),
        (LoraSettings(target_modules="all-linear"), 2, True),
    ],
)
def test_auto_adapts_every_linear_layer_for_classification(
    tiny_model_dir: Path, settings: LoraSettings, classes: int, every_linear: bool
) -> None:
    from transformers import AutoModelForCausalLM

    every = set(linear_layer_names(AutoModelForCausalLM.from_pretrained(tiny_model_dir)))
    assert every > ATTENTION  # the tiny model has MLP layers too, so the cases differ
    expected = every if every_linear else ATTENTION
    assert adapted_layers(tiny_model_dir, settings, classes) == expected


def test_named_layers_are_adapted_as_named(tiny_model_dir: Path) -> None:
    named = LoraSettings(target_modules=["q_proj", "down_proj"])
    assert adapted_layers(tiny_model_dir, named, 77) == {"q_proj", "down_proj"}
    assert explain_targets(named, 77) == "q_proj, down_proj (set by you)"
    assert explain_targets(LoraSettings(), 3).startswith("all-linear (auto: every linear layer")
    assert explain_targets(LoraSettings(), 0).startswith("attention (auto: the attention")
