"""prompt-search: the prompt chosen by a search on the validation split (prompting/search.py):
instructions and their edits, demos (0 included) and how they are chosen, calibration.

    bakeoff run --task examples/trec/task.yaml --strategy prompt-search --search-calls 2000
"""

from __future__ import annotations

from typing import Any

from bakeoff.models.base import LanguageModel
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.zero_shot import load
from bakeoff.strategy import Candidate, RunContext, Strategy
from bakeoff.strategy_registry import Resolved, StrategyInfo, register_strategy
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


class PromptSearch:
    name = "prompt-search"
    uses_model = True

    def __init__(self, settings: dict[str, Any]):
        from bakeoff.prompting.strategies import prompt_settings

        self.search = SearchSettings.model_validate(settings.get("search") or {})
        self.base = prompt_settings({k: v for k, v in settings.items() if k != "search"})

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> Candidate:
        from bakeoff.prompting.search import search

        return search(task, model, train, validation, ctx, self.base, self.search)


def build(settings: dict[str, Any], resolved: Resolved) -> Strategy:
    return PromptSearch(settings)


PROMPT_SEARCH = register_strategy(
    StrategyInfo(
        name="prompt-search",
        kind="prompt",
        summary="the prompt a search on validation chose: wordings and edits, demos, calibration",
        build=build,
        load=load,
        axes=frozenset({"train_size", "seed"}),
        settings=SearchSettings,
        settings_key="search",
    )
)
