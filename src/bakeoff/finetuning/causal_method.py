"""What differs between the ways of fine-tuning a causal LM (LoRA, full, prompt tuning): how
weights are made trainable, whether the base stays frozen, whether a soft prompt lives inside
forward(). Everything else — the paired prompt, the loop, the artifact — is shared
(causal.py, tuned_artifact.py); causal_registration.py registers a method as a strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (model, settings=..., init_ids=..., classes=...) -> the model with trainable weights
MakeTrainable = Callable[..., Any]
# (settings, classes) -> what the settings resolve to for a task of that many classes, in words
ExplainSettings = Callable[[Any, int], str]


@dataclass(frozen=True)
class CausalMethod:
    name: str
    make_trainable: MakeTrainable
    frozen_base: bool = True  # False: every weight trains (no bf16 frozen copy)
    soft_prompt: bool = False  # virtual tokens inside forward(): no prefix cache, full logits
    adapter: bool = True  # saved as a PEFT adapter (else as a whole model)
    explain_settings: ExplainSettings | None = None  # shown by --explain, kept in the record
