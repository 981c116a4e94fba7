"""The experiment file (`experiment.yaml`): which strategies, models, sizes and seeds to run,
under which constraints and prices. See docs/experiments.md.

name: sst2-bakeoff
task: task.yaml
strategies: [zero-shot, {name: few-shot, demos: knn, shots: 4}, lora, encoder-head]
train_sizes: [64, 256, all]
seeds: [0, 1]
constraints: {requests_per_month: 100000, latency_ms: 500}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bakeoff.experiment.plan import STRATEGIES, TRAINED_STRATEGIES
from bakeoff.models.backends import BackendOptions
from bakeoff.prompting.demos import DemoMethod
from bakeoff.task.spec import StrictModel, load_config_file

DOCS = "docs/experiments.md"


class StrategyEntry(StrictModel):
    """One strategy with its own settings; a bare name in the list means all defaults."""

    name: str
    demos: DemoMethod | None = None
    shots: int | None = Field(default=None, ge=1, le=64)
    wordings: list[int] | None = None
    training: dict[str, Any] = Field(
        default_factory=dict, description="TrainConfig fields, e.g. {epochs: 3, lr: 1e-4}."
    )
    lora: dict[str, Any] = Field(default_factory=dict)
    prompt_tuning: dict[str, Any] = Field(default_factory=dict)
    encoder: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy '{name}'; choose from {', '.join(STRATEGIES)}")
        return name

    @property
    def trained(self) -> bool:
        return self.name.split("+")[0] in TRAINED_STRATEGIES

    @property
    def few_shot(self) -> bool:
        return self.name.endswith("few-shot")


class PromptDefaults(StrictModel):
    format: Literal["auto", "chat", "inline", "plain"] = "auto"
    decode: Literal["score", "generate"] = "score"
    normalize: Literal["mean", "sum"] = "mean"
    calibrate: bool = False
    shots: int = Field(default=4, ge=1, le=64)
    demos: DemoMethod = "knn"


class Budget(StrictModel):
    max_runs: int | None = Field(default=None, ge=1, description="Refuse larger grids.")
    max_train_minutes: float | None = Field(
        default=None, gt=0, description="Per run: training stops (best checkpoint kept) at this."
    )


class Constraints(StrictModel):
    """What the team needs; the advisor weighs the measurements against these."""

    requests_per_month: float = Field(default=100_000, ge=0)
    latency_ms: float | None = Field(default=None, gt=0, description="Per-request target.")
    training_budget_usd: float | None = Field(default=None, ge=0, description="Per training run.")
    horizon_months: float = Field(default=12, gt=0, le=120)
    new_data_every_months: float | None = Field(
        default=None, gt=0, description="How often new labelled data arrives (retraining cadence)."
    )
    min_quality: float | None = Field(
        default=None, ge=0, le=1, description="Headline metric floor."
    )
    max_quality_loss: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Headline-metric loss you accept for a cheaper candidate (0.02 = 2 points).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Constraints:
        every = self.new_data_every_months
        if every is not None and every > self.horizon_months:
            raise ValueError(
                f"`new_data_every_months` ({every:g}) is longer than `horizon_months` "
                f"({self.horizon_months:g}): new data would never arrive within the horizon — "
                "lengthen the horizon or drop new_data_every_months"
            )
        return self


class Prices(StrictModel):
    """Money per unit; defaults are list prices of late 2026, edit them to yours."""

    cpu_hour_usd: float = Field(default=0.10, ge=0, description="A 2-4 core cloud VM.")
    gpu_hour_usd: float = Field(default=2.50, ge=0, description="One H100-class GPU.")
    input_per_1m_tokens_usd: float = Field(default=0.0, ge=0, description="API models only.")
    output_per_1m_tokens_usd: float = Field(default=0.0, ge=0, description="API models only.")


class ExperimentSpec(StrictModel):
    name: str = Field(min_length=1)
    task: Path
    models: list[str] = Field(default_factory=lambda: ["smollm2-135m-instruct"], min_length=1)
    strategies: list[str | StrategyEntry] = Field(min_length=1)
    train_sizes: list[int | Literal["all"]] = Field(
        default_factory=lambda: list[int | Literal["all"]](["all"]), min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    wordings: list[int] = Field(default_factory=lambda: [0], min_length=1)
    test_size: int | None = Field(default=None, ge=10, description="Stratified test sample.")
    prompt: PromptDefaults = PromptDefaults()
    training: dict[str, Any] = Field(default_factory=dict, description="TrainConfig defaults.")
    budget: Budget = Budget()
    constraints: Constraints = Constraints()
    prices: Prices = Prices()
    trust_remote_code: bool = False
    backend: BackendOptions = BackendOptions()
    base_dir: Path = Field(default=Path("."), exclude=True)
    source_file: Path | None = Field(default=None, exclude=True)
    key_lines: dict[str, int] = Field(default_factory=dict, exclude=True)  # top-level key -> line

    @field_validator("strategies")
    @classmethod
    def _entries(cls, items: list[str | StrategyEntry]) -> list[str | StrategyEntry]:
        names = [item if isinstance(item, str) else item.name for item in items]
        for name in names:
            if name not in STRATEGIES:
                raise ValueError(f"unknown strategy '{name}'; choose from {', '.join(STRATEGIES)}")
        return items

    @field_validator("train_sizes")
    @classmethod
    def _sizes(cls, sizes: list[int | str]) -> list[int | str]:
        if any(isinstance(s, int) and s < 2 for s in sizes):
            raise ValueError("train sizes must be at least 2 (or `all`)")
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"train sizes repeat: {sizes}")
        return sizes

    @field_validator("seeds", "wordings")
    @classmethod
    def _unique(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values) or any(v < 0 for v in values):
            raise ValueError(f"must be distinct non-negative numbers, got {values}")
        return values

    @model_validator(mode="after")
    def _budget_allows_training(self) -> ExperimentSpec:
        if self.constraints.training_budget_usd == 0 and any(s.trained for s in self.entries):
            raise ValueError(
                "`constraints.training_budget_usd` is 0 but `strategies` lists fine-tuning "
                "strategies — remove them or allow a training budget"
            )
        return self

    @property
    def entries(self) -> list[StrategyEntry]:
        return [StrategyEntry(name=s) if isinstance(s, str) else s for s in self.strategies]

    @property
    def where(self) -> str:
        return str(self.source_file) if self.source_file else f"experiment '{self.name}'"

    def at(self, key: str) -> str:
        """`file:line` of a top-level key, for errors found after loading (e.g. in the data)."""
        line = self.key_lines.get(key)
        return f"{self.where}:{line}" if line else self.where

    @property
    def task_path(self) -> Path:
        task = self.task
        return task if task.is_absolute() else Path(os.path.normpath(self.base_dir / task))


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file; every problem names its line and field."""
    return load_config_file(
        Path(path),
        ExperimentSpec,
        "experiment",
        "name, task, strategies, train_sizes",
        "examples/sst2/experiment.yaml",
        DOCS,
    )
