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

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from bakeoff.config import StrictModel, load_config_file, problems_in_one_line
from bakeoff.errors import BakeoffError
from bakeoff.models.backends import BackendOptions, check_no_url_secrets
from bakeoff.pricing import Constraints, Prices
from bakeoff.prompting.demos import DemoMethod
from bakeoff.strategy_registry import Resolved, resolve

DOCS = "docs/experiments.md"


class StrategyEntry(StrictModel):
    """One strategy with its own settings; a bare name in the list means all defaults.

    Besides the keys below, an entry may hold the strategy's own settings under the key it
    registered (`lora:`, `prompt_tuning:`, `encoder:`, …), validated by its settings model.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    demos: DemoMethod | None = None
    shots: int | None = Field(default=None, ge=1, le=64)
    wordings: list[int] | None = None
    decode: Literal["score", "generate", "free"] | None = Field(
        default=None,
        description="This entry's decoding (default: the prompt block's); `free` generates "
        "without the task's `output:` shape, to compare with the constrained default.",
    )
    training: dict[str, Any] = Field(
        default_factory=dict, description="TrainConfig fields, e.g. {epochs: 3, lr: 1e-4}."
    )

    @model_validator(mode="after")
    def _known(self) -> StrategyEntry:
        try:
            resolved = resolve(self.name, "strategy")
        except BakeoffError as exc:
            raise ValueError(str(exc).removeprefix("strategy: ")) from None
        parts = {str(p.settings_key): p for p in resolved.own_parts}
        for extra in self.model_extra or {}:
            if extra not in parts:
                takes = " and ".join(f"`{k}`" for k in parts) or "no settings of its own"
                raise ValueError(
                    f"strategy '{self.name}' has no setting `{extra}` (it takes {takes}, "
                    "`training`, and for prompts `demos`, `shots`, `wordings`, `decode`)"
                )
        for key, part in parts.items():
            own = (self.model_extra or {}).get(key)
            if part.settings is not None and own is not None:
                try:
                    part.settings.model_validate(own)
                except ValidationError as exc:
                    raise ValueError(f"`{key}`: {problems_in_one_line(exc)}") from None
        if self.training:
            from bakeoff.finetuning.config import TrainConfig

            try:
                TrainConfig.model_validate(self.training)
            except ValidationError as exc:
                raise ValueError(f"`training`: {problems_in_one_line(exc)}") from None
        if (self.demos or self.shots) and not resolved.uses_demos:
            raise ValueError(f"`demos`/`shots` apply to few-shot prompts, not to '{self.name}'")
        return self

    @property
    def resolved(self) -> Resolved:
        return resolve(self.name)

    @property
    def trained(self) -> bool:
        return self.resolved.kind == "trained"

    @property
    def own_settings(self) -> dict[str, Any]:
        """The strategy's own settings as written (`lora: {r: 16}` -> {"lora": {"r": 16}})."""
        return dict(self.model_extra or {})


class PromptDefaults(StrictModel):
    format: Literal["auto", "chat", "inline", "plain"] = "auto"
    decode: Literal["score", "generate", "free"] = "score"
    normalize: Literal["mean", "sum"] = "mean"
    calibrate: bool = False
    shots: int = Field(default=4, ge=1, le=64)
    demos: DemoMethod = "knn"


DEFAULT_MAX_RUNS = 200  # a typo in a grid (seeds: 100) should not start days of compute


class Budget(StrictModel):
    max_runs: int | None = Field(
        default=None,
        ge=1,
        description=f"Refuse larger grids (unset: at most {DEFAULT_MAX_RUNS}; set it to exceed).",
    )
    max_train_minutes: float | None = Field(
        default=None, gt=0, description="Per run: training stops (best checkpoint kept) at this."
    )


class MlflowTracking(StrictModel):
    """Log every run to MLflow (bakeoff/tracking.py, docs/python.md)."""

    uri: str = Field(description="Tracking URI: sqlite:///path/mlflow.db, http://host:5000, …")
    experiment: str | None = Field(default=None, description="Default: the experiment's name.")
    registered_model: str | None = Field(
        default=None, description="Registry name of the champion (default: bakeoff-NAME)."
    )


class Tracking(StrictModel):
    mlflow: MlflowTracking | None = None


class RunResources(StrictModel):
    """What one run asks a Ray cluster for."""

    num_cpus: float | None = Field(
        default=None,
        ge=0,
        description="CPUs (unset: 1 for a prompt, 2 to train; 0.25 when "
        "the model is served elsewhere, openai:…).",
    )
    num_gpus: float | None = Field(
        default=None, ge=0, description="GPUs (unset: 0 — the backends run on CPUs for now)."
    )
    memory_gb: float | None = Field(default=None, gt=0, description="RAM to reserve (unset: none).")


class KindResources(StrictModel):
    prompt: RunResources = RunResources()
    trained: RunResources = RunResources()


class ExecutorSpec(StrictModel):
    """Where the runs execute: in this process (local), or as Ray tasks (docs/scaling.md)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(
        default=None,
        description="ray: a running cluster (`auto`, `HOST:6379`, `ray://HOST:10001`); unset: "
        "start one on this machine, bound to 127.0.0.1, for the run's duration.",
    )
    num_cpus: int | None = Field(
        default=None, ge=1, description="ray, started here: its CPUs (unset: all of them)."
    )
    resources: KindResources = KindResources()
    max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Attempts after the first when a run fails or its "
        "worker dies; then it is stored as failed (a rerun tries it again).",
    )


class ExperimentSpec(StrictModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Letters, digits, '.', '_', '-': it names the folder runs/<name>.",
    )
    task: Path
    models: list[str] = Field(default_factory=lambda: ["smollm2-135m-instruct"], min_length=1)
    strategies: list[StrategyEntry] = Field(min_length=1)
    train_sizes: list[int | Literal["all"]] = Field(
        default_factory=lambda: list[int | Literal["all"]](["all"]), min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    wordings: list[int] = Field(default_factory=lambda: [0], min_length=1)
    test_size: int | None = Field(default=None, ge=1, description="Stratified test sample.")
    prompt: PromptDefaults = PromptDefaults()
    training: dict[str, Any] = Field(default_factory=dict, description="TrainConfig defaults.")
    budget: Budget = Budget()
    constraints: Constraints = Constraints()
    prices: Prices = Prices()
    trust_remote_code: bool = False
    drop_invalid: bool = Field(default=False, description="Drop bad data rows (with counts).")
    backend: BackendOptions = BackendOptions()
    tracking: Tracking = Tracking()
    executor: ExecutorSpec = ExecutorSpec()
    base_dir: Path = Field(default=Path("."), exclude=True)
    source_file: Path | None = Field(default=None, exclude=True)
    key_lines: dict[str, int] = Field(default_factory=dict, exclude=True)  # top-level key -> line

    @field_validator("strategies", mode="before")
    @classmethod
    def _bare_names(cls, items: Any) -> Any:
        """A bare name is an entry with defaults (validated like one)."""
        if isinstance(items, list):
            return [{"name": i} if isinstance(i, str) else i for i in items]
        return items

    @field_validator("models")
    @classmethod
    def _no_secrets(cls, models: list[str]) -> list[str]:
        for name in models:
            check_no_url_secrets(name)
        return models

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
        return list(self.strategies)

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
