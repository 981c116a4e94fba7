"""lora: low-rank adapters on the attention projections (PEFT), trained with the paired prompt.

bakeoff run --task examples/sst2/task.yaml --strategy lora --train-size 1000 --out runs/l
"""

from __future__ import annotations

from typing import Any

from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.finetuning.causal_registration import register_causal_method
from bakeoff.finetuning.config import LoraSettings


def apply_lora(model: Any, settings: LoraSettings, **_: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    from bakeoff.finetuning.methods import lora_targets

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_targets(model, settings.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


LORA_METHOD = CausalMethod("lora", apply_lora)
LORA = register_causal_method(
    LORA_METHOD,
    summary="low-rank adapters (PEFT) trained with the paired prompt",
    # more than 20 classes (the label list left out of the prompt): 1e-3 — on Banking77 at
    # 32/class, 74.0% against 43.0% at 2e-4 (docs/finetuning.md)
    training_defaults={"lr": 2e-4, "epochs": 2.0, "lr_many_classes": 1e-3},
    settings=LoraSettings,
    settings_key="lora",
)
