"""From a RunConfig to its Strategy object: the one place that knows every strategy's name."""

from __future__ import annotations

from typing import Any

from bakeoff.experiment.plan import PROMPT_STRATEGIES, RunConfig
from bakeoff.finetuning.config import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    EncoderHeadSettings,
    LoraSettings,
    PromptTuningSettings,
    TrainConfig,
)
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import Strategy


def default_training(method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Training settings for `method`: its defaults, then the user's overrides (validated)."""
    train = {
        "lr": DEFAULT_LR[method],
        "epochs": DEFAULT_EPOCHS[method],
        **overrides.get("train", {}),
    }
    out: dict[str, Any] = {"train": TrainConfig.model_validate(train).model_dump()}
    if method == "lora":
        out["lora"] = LoraSettings.model_validate(overrides.get("lora", {})).model_dump()
    elif method == "prompt-tuning":
        out["prompt_tuning"] = PromptTuningSettings.model_validate(
            overrides.get("prompt_tuning", {})
        ).model_dump()
    elif method == "encoder-head":
        out["encoder"] = EncoderHeadSettings.model_validate(
            overrides.get("encoder", {})
        ).model_dump()
    return out


def build_strategy(run: RunConfig) -> Strategy:
    prompt = PromptSettings.model_validate(
        {k: v for k, v in run.settings.items() if k != "training"}
    )
    if run.strategy in PROMPT_STRATEGIES:
        return PromptStrategy(run.strategy, prompt)
    method = run.strategy.split("+")[0]
    training = run.settings["training"]
    config = TrainConfig.model_validate(training["train"])
    if method == "encoder-head":
        from bakeoff.finetuning.encoder_head import EncoderHead

        return EncoderHead(config, EncoderHeadSettings.model_validate(training.get("encoder", {})))
    from bakeoff.finetuning.causal import CausalFineTune

    return CausalFineTune(
        method,
        prompt,
        config,
        LoraSettings.model_validate(training.get("lora", {})),
        PromptTuningSettings.model_validate(training.get("prompt_tuning", {})),
    )
