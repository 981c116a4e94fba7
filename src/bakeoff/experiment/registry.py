"""From a run's settings to its Strategy object, and a strategy's training settings — both read
from the strategy registry (strategy_registry.py), which knows every strategy's name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

from bakeoff.config import settings_error
from bakeoff.experiment.plan import RunConfig
from bakeoff.strategy import Strategy
from bakeoff.strategy_registry import Resolved


def default_training(
    resolved: Resolved, overrides: dict[str, Any], where: str, flags: bool = False
) -> dict[str, Any]:
    """Training settings of a trained strategy: the loop's settings (its defaults, then the
    user's) and the strategy's own settings, validated; every problem is listed."""
    from bakeoff.finetuning.config import TrainConfig

    train = overrides.get("train", {})  # unset fields: chosen per run (finetuning/schedule.py)
    docs = "docs/finetuning.md"
    try:
        out: dict[str, Any] = {"train": TrainConfig.model_validate(train).key_dump()}
    except ValidationError as exc:
        raise settings_error(exc, where, docs, flags) from None
    trained_own = own_settings(resolved, overrides, where, docs, flags, part="trained")
    return {**out, **trained_own}


def own_settings(
    resolved: Resolved,
    given: dict[str, Any],
    where: str,
    docs: str,
    flags: bool = False,
    part: Literal["trained", "prompt"] = "prompt",
) -> dict[str, Any]:
    """The own settings (`lora:`, `search:` …) of the trained or the prompt part of a strategy,
    with their defaults filled in — part of each run's key — or every problem with them; {}
    when that part takes none. A trained part's go under `training`, a prompt part's beside
    the prompt settings (so `lora+prompt-search` has both)."""
    info = resolved.trained if part == "trained" else resolved.prompt
    if info is None or info.settings is None or info.settings_key is None:
        return {}
    key = info.settings_key
    try:
        return {key: info.settings.model_validate(given.get(key, {})).model_dump()}
    except ValidationError as exc:
        raise settings_error(exc, where, docs, flags, prefix=key) from None


def build_strategy(run: RunConfig) -> Strategy:
    return run.resolved.build(run.settings)
