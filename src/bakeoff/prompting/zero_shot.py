"""zero-shot: an instruction and the input, no labelled examples; runs once per wording.

bakeoff run --task examples/sst2/task.yaml --strategy zero-shot --out runs/z
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bakeoff.strategy import Candidate, Strategy
from bakeoff.strategy_registry import Resolved, StrategyInfo, register_strategy
from bakeoff.task.spec import TaskSpec


def build(settings: dict[str, Any], resolved: Resolved) -> Strategy:
    from bakeoff.prompting.strategies import PromptStrategy, prompt_settings

    prompt = prompt_settings(settings).model_copy(update={"shots": 0})
    return PromptStrategy(resolved.main.name, prompt)


def load(folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str) -> Candidate:
    from bakeoff.prompting.reload import load_prompt_artifact

    return load_prompt_artifact(folder, manifest, task, device)


ZERO_SHOT = register_strategy(
    StrategyInfo(
        name="zero-shot",
        kind="prompt",
        summary="instruction + input, no labels",
        build=build,
        load=load,
        axes=frozenset({"wording"}),
        pairs_by_default=True,
    )
)
