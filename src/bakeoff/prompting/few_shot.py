"""few-shot: the instruction, `shots` labelled demos from the train split (random, stratified
or nearest-neighbour), then the input.

    bakeoff run --task examples/sst2/task.yaml --strategy few-shot --demos knn --shots 8
"""

from __future__ import annotations

from bakeoff.prompting.zero_shot import load
from bakeoff.strategy import Strategy
from bakeoff.strategy_registry import Resolved, StrategyInfo, register_strategy

DEFAULT_SHOTS = 8


def build(settings: dict[str, object], resolved: Resolved) -> Strategy:
    from bakeoff.prompting.strategies import PromptStrategy, prompt_settings

    prompt = prompt_settings(dict(settings))
    if prompt.shots == 0:
        prompt = prompt.model_copy(update={"shots": DEFAULT_SHOTS})
    return PromptStrategy(resolved.main.name, prompt)


FEW_SHOT = register_strategy(
    StrategyInfo(
        name="few-shot",
        kind="prompt",
        summary="instruction + `shots` demos from train (random, stratified, knn) + input",
        build=build,
        load=load,
        axes=frozenset({"wording", "train_size", "seed"}),
        uses_demos=True,
    )
)
