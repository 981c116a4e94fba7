"""full: every weight of the model trains (fp32 master weights), with the paired prompt.

bakeoff run --task examples/sst2/task.yaml --strategy full --train-size 500 --out runs/f
"""

from __future__ import annotations

from typing import Any

from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.finetuning.causal_registration import register_causal_method


def apply_full(model: Any, **_: Any) -> Any:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


FULL = register_causal_method(
    CausalMethod("full", apply_full, frozen_base=False, adapter=False),
    summary="all weights trained with the paired prompt",
    training_defaults={"lr": 2e-5, "epochs": 1.0},
)
