"""The strategy registry: each strategy registers its name, kind, settings model, grid axes and
artifact loader here, in its own module; experiment validation, the grid, the CLI's help and
`bakeoff predict --artifact` read it. Nothing else lists strategy names.

    from bakeoff.strategy_registry import StrategyInfo, register_strategy
    register_strategy(StrategyInfo(name="my-method", kind="trained", build=..., ...))

Hybrids are composition, not registrations: `lora+few-shot` is the trained strategy `lora`
paired with the prompt strategy `few-shot` (`takes_prompt=True` on the trained one).
See docs/extending.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bakeoff.artifacts import register_loader, unregister_loader
from bakeoff.config import StrictModel, settings_error
from bakeoff.errors import BakeoffError
from bakeoff.strategy import Candidate, Strategy
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

Kind = Literal["prompt", "trained"]
Axis = Literal["wording", "train_size", "seed"]
# (run settings, the resolved strategy) -> the Strategy object that adapts
Builder = Callable[[dict[str, Any], "Resolved"], Strategy]
# (artifact folder, its manifest, the task, the device to load on: cpu | cuda:N) -> candidate
Loader = Callable[[Path, dict[str, Any], TaskSpec, str], Candidate]

# Modules whose import registers the built-in strategies (as PEFT's tuners/__init__.py does).
BUILTIN_MODULES = (
    "bakeoff.prompting.zero_shot",
    "bakeoff.prompting.few_shot",
    "bakeoff.prompting.prompt_search",
    "bakeoff.finetuning.lora",
    "bakeoff.finetuning.full",
    "bakeoff.finetuning.prompt_tuning",
    "bakeoff.finetuning.encoder_head_strategy",
)


@dataclass(frozen=True)
class StrategyInfo:
    """What bakeoff needs to know about a strategy without importing its heavy code."""

    name: str
    kind: Kind
    summary: str  # one line, shown by `bakeoff run --help` and in docs
    build: Builder
    axes: frozenset[Axis]  # grid axes it varies over: labels and seeds change nothing zero-shot
    load: Loader | None = None  # rebuilds a saved candidate (artifact folder + its manifest)
    settings: type[StrictModel] | None = None  # its own options, validated (extra="forbid")
    settings_key: str | None = None  # where those go in an experiment entry, e.g. `lora:`
    training_defaults: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"lr": 2e-4}
    # (its settings, the task's classes) -> what they resolve to, in words (`--explain`)
    explain_settings: Callable[[Any, int], str] | None = None
    # the rows its training loop iterates, from its training settings and the train split,
    # when that is not the split's length (encoder-head adds same-label concatenations)
    training_rows: Callable[[dict[str, Any], list[Example]], int] | None = None
    takes_prompt: bool = False  # trained on top of a prompt strategy: `NAME+few-shot` exists
    uses_prompt: bool = True  # False: no instruction, wording or demos (encoder-head)
    # brings its own model (run settings -> its name): runs once whatever `models` lists
    own_model: Callable[[dict[str, Any]], str] | None = None
    uses_demos: bool = False  # prompt strategies with demos: `shots` and `demos` apply
    pairs_by_default: bool = False  # the prompt a trained strategy uses when none is named
    pairs_with_trained: bool = True  # False: no `TRAINED+NAME` hybrids (not built for it yet)


@dataclass(frozen=True)
class Resolved:
    """A strategy name as run: a prompt strategy, a trained one, or a trained one + a prompt."""

    name: str
    trained: StrategyInfo | None
    prompt: StrategyInfo | None

    @property
    def main(self) -> StrategyInfo:
        info = self.trained or self.prompt
        assert info is not None
        return info

    @property
    def kind(self) -> Kind:
        return self.main.kind

    @property
    def uses_prompt(self) -> bool:
        return self.main.uses_prompt

    @property
    def uses_demos(self) -> bool:
        return self.prompt is not None and self.prompt.uses_demos

    @property
    def axes(self) -> frozenset[Axis]:
        axes = set(self.main.axes)
        if self.trained is not None and self.prompt is not None:
            axes |= self.prompt.axes - {"wording"}  # training is the costly part: one wording
        return frozenset(axes)

    @property
    def own_parts(self) -> list[StrategyInfo]:
        """The registered strategies behind this name that take settings of their own
        (`lora:` of the trained part, `search:` of the prompt part)."""
        parts = [p for p in (self.trained, self.prompt) if p is not None]
        return [p for p in parts if p.settings is not None and p.settings_key is not None]

    def build(self, settings: dict[str, Any]) -> Strategy:
        return self.main.build(settings, self)


_STRATEGIES: dict[str, StrategyInfo] = {}
_builtins_loaded = False


def register_strategy(info: StrategyInfo) -> StrategyInfo:
    """Add a strategy (a second registration under the same name replaces the first)."""
    if "+" in info.name:
        raise ValueError(f"strategy name {info.name!r}: '+' joins a trained and a prompt strategy")
    if (info.settings is None) != (info.settings_key is None):
        raise ValueError(f"strategy {info.name!r}: give both `settings` and `settings_key`")
    _STRATEGIES[info.name] = info
    if info.load is not None:
        register_loader(info.name, info.load)
    return info


def unregister_strategy(name: str) -> None:
    _STRATEGIES.pop(name, None)
    unregister_loader(name)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def registered() -> dict[str, StrategyInfo]:
    _load_builtins()
    return dict(_STRATEGIES)


def strategy_names() -> list[str]:
    """Every name `--strategy` and experiment files accept, hybrids included."""
    infos = registered().values()
    prompts = [i for i in infos if i.kind == "prompt"]
    names = [i.name for i in prompts]
    for info in infos:
        if info.kind == "trained":
            names.append(info.name)
            if info.takes_prompt:
                names += [
                    f"{info.name}+{p.name}"
                    for p in prompts
                    if p.pairs_with_trained and not p.pairs_by_default
                ]
    return names


def resolve(name: str, where: str = "--strategy") -> Resolved:
    """The registered strategies behind a name, or an error listing the names there are."""
    infos = registered()
    trained_name, _, prompt_name = name.partition("+")
    info = infos.get(trained_name)
    if info is None or (prompt_name and name not in strategy_names()):
        raise BakeoffError(
            f"{where}: unknown strategy '{name}'; choose from {', '.join(strategy_names())} "
            "(docs/extending.md adds one)."
        )
    if info.kind == "prompt":
        return Resolved(name, None, info)
    if not info.takes_prompt:
        return Resolved(name, info, None)
    if not prompt_name:
        prompt_name = next(i.name for i in infos.values() if i.pairs_by_default)
    return Resolved(name, info, infos[prompt_name])


def load_candidate(
    folder: Path, allow_remote: bool = False, device: str = "auto"
) -> tuple[TaskSpec, Candidate]:
    """The task and the candidate saved in an artifact folder, rebuilt by its strategy on
    `device` (auto: the first GPU when there is one, else the CPU; cpu; cuda[:N]).

    Weights load from safetensors only; an artifact whose model is a remote endpoint (inputs
    would be sent there) loads only with `allow_remote`."""
    from pydantic import ValidationError

    from bakeoff.artifacts import loader_for, read_manifest, refuse_pickles
    from bakeoff.device import resolve_device
    from bakeoff.models.backends import remote_endpoint

    _load_builtins()
    manifest = read_manifest(folder)
    refuse_pickles(folder)
    remote = remote_endpoint(str(manifest.get("model", "")))
    if remote is not None and not allow_remote:
        raise BakeoffError(
            f"{folder}/manifest.json: this candidate sends every input to {remote} — if you "
            "trust that endpoint, rerun with --allow-remote."
        )
    try:
        task = TaskSpec.model_validate(manifest["task"])
    except ValidationError as exc:
        where = f"{folder}/manifest.json: task"
        raise settings_error(exc, where, "docs/tasks.md (or rerun the run)") from None
    where = resolve_device(device)  # a GPU asked for that is not here: a clear error first
    return task, loader_for(folder, manifest)(folder, manifest, task, where)
