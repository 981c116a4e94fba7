"""prompt-tuning: a trained soft prompt (PEFT), started from the instruction's embeddings.

bakeoff run --task examples/sst2/task.yaml --strategy prompt-tuning --out runs/p
"""

from __future__ import annotations

from typing import Any

from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.finetuning.causal_registration import register_causal_method
from bakeoff.finetuning.config import PromptTuningSettings


def apply_prompt_tuning(
    model: Any, settings: PromptTuningSettings, init_ids: list[int], **_: Any
) -> Any:
    """A soft prompt of `virtual_tokens` vectors, started from the instruction's embeddings."""
    import torch
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
            start = embed(torch.tensor(ids, device=embed.weight.device)).detach().clone()
            peft_model.prompt_encoder["default"].embedding.weight.copy_(start)
    return peft_model


PROMPT_TUNING = register_causal_method(
    CausalMethod("prompt-tuning", apply_prompt_tuning, soft_prompt=True),
    summary="a trained soft prompt (PEFT) before the paired prompt",
    training_defaults={"lr": 3e-2, "epochs": 3.0},
    settings=PromptTuningSettings,
    settings_key="prompt_tuning",
)
