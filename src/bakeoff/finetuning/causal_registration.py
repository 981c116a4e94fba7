"""A causal-LM method (causal_method.py) registered as a trained strategy: one call per method,
so LoRA, full and prompt tuning share their build and artifact loader instead of copying them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bakeoff.config import StrictModel
from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.strategy import Candidate, Strategy
from bakeoff.strategy_registry import Resolved, StrategyInfo, register_strategy
from bakeoff.task.spec import TaskSpec


def register_causal_method(
    method: CausalMethod,
    summary: str,
    training_defaults: Mapping[str, Any],
    settings: type[StrictModel] | None = None,
    settings_key: str | None = None,
) -> StrategyInfo:
    def build(run_settings: dict[str, Any], resolved: Resolved) -> Strategy:
        from bakeoff.finetuning.causal import CausalFineTune

        return CausalFineTune.from_run(method, run_settings, resolved)

    def load(folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str) -> Candidate:
        from bakeoff.finetuning.tuned_artifact import load_tuned

        return load_tuned(method, folder, manifest, task, device)

    return register_strategy(
        StrategyInfo(
            name=method.name,
            kind="trained",
            summary=summary,
            build=build,
            load=load,
            axes=frozenset({"train_size", "seed"}),
            settings=settings,
            settings_key=settings_key,
            training_defaults=training_defaults,
            explain_settings=method.explain_settings,
            takes_prompt=True,
        )
    )
