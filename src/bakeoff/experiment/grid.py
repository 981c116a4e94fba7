"""Run an experiment: expand model × strategy × train size × seed × wording into runs, run
those the store does not have yet, and record each one the moment it finishes.

    bakeoff run examples/sst2/experiment.yaml --out runs/sst2
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bakeoff import __version__
from bakeoff.errors import BakeoffError
from bakeoff.experiment.plan import RunConfig, check_wordings, run_settings
from bakeoff.experiment.registry import default_training
from bakeoff.experiment.runner import ProgressFactory, execute, is_main_process
from bakeoff.experiment.spec import ExperimentSpec, StrategyEntry
from bakeoff.experiment.store import STORE_NAME, RunStore
from bakeoff.models.base import LanguageModel
from bakeoff.strategy import RunContext
from bakeoff.task.data import Splits, load_splits
from bakeoff.task.spec import TaskSpec, load_task
from bakeoff.task.split import stratified_sample

OnDone = Callable[[dict[str, Any], bool], None]  # (run record, skipped because already done)


def resolve_sizes(spec: ExperimentSpec, n_train: int) -> list[int]:
    """Train sizes as row counts; `all` is the whole train split. Too large is an error."""
    sizes = []
    for size in spec.train_sizes:
        n = n_train if size == "all" else int(size)
        if n > n_train:
            raise BakeoffError(
                f"{spec.at('train_sizes')}: train size {n} is larger than the train split "
                f"({n_train} rows after validation and test are set aside) — lower it or use "
                "`all`."
            )
        sizes.append(n)
    return sorted(set(sizes))


def _training(spec: ExperimentSpec, entry: StrategyEntry, index: int) -> dict[str, Any]:
    method = entry.name.split("+")[0]
    train = {**spec.training, **entry.training}
    if spec.budget.max_train_minutes and "max_minutes" not in train:
        train["max_minutes"] = spec.budget.max_train_minutes
    overrides = {
        "train": train,
        "lora": entry.lora,
        "prompt_tuning": entry.prompt_tuning,
        "encoder": entry.encoder,
    }
    try:
        return {method: default_training(method, overrides)}
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise BakeoffError(
            f"{spec.at('strategies')}: strategies[{index}] ({entry.name}): training setting "
            f"`{field}`: {err['msg']} (got {err.get('input')!r}) — see docs/finetuning.md."
        ) from None


def plan_runs(spec: ExperimentSpec, sizes: list[int]) -> list[RunConfig]:
    """Every run of the grid, in the order they run: cheap prompting first, per model.

    Zero-shot learns from no labels, so it runs once per wording (size and seed change
    nothing); trained strategies use the first wording (training is the costly part).
    """
    prompt = spec.prompt
    base = {
        "format": prompt.format,
        "decode": prompt.decode,
        "normalize": prompt.normalize,
        "calibrate": prompt.calibrate,
    }
    runs: list[RunConfig] = []
    for model in spec.models:
        for index, entry in enumerate(spec.entries):
            shots = entry.shots or prompt.shots
            demos = entry.demos or prompt.demos
            training = _training(spec, entry, index) if entry.trained else None
            wordings = entry.wordings or spec.wordings
            wordings = wordings[:1] if entry.trained else wordings
            zero = entry.name == "zero-shot"
            for size in [None] if zero else sizes:
                for seed in spec.seeds[:1] if zero else spec.seeds:
                    for wording in wordings:
                        settings = run_settings(
                            entry.name, {**base, "shots": shots}, wording, demos, training
                        )
                        runs.append(RunConfig(entry.name, settings, model, seed, size))
    unique = {run.key: run for run in runs}
    if len(unique) != len(runs):
        raise BakeoffError(f"{spec.at('strategies')}: two entries describe the same runs.")
    return runs


def data_fingerprint(task: TaskSpec, splits: Splits) -> str:
    return splits.digest(json.dumps(task.model_dump(mode="json"), sort_keys=True))


class Experiment:
    """An experiment file made ready to run: task, data, sizes and the planned runs."""

    def __init__(self, spec: ExperimentSpec):
        self.spec = spec
        self.task = load_task(spec.task_path.resolve())  # row ids name absolute files
        self.splits = load_splits(self.task, limit_test=spec.test_size)
        self.sizes = resolve_sizes(spec, len(self.splits.train))
        self.runs = plan_runs(spec, self.sizes)
        check_wordings(self.task, self.runs, f"{spec.at('wordings')}: wordings")
        limit = spec.budget.max_runs
        if limit is not None and len(self.runs) > limit:
            raise BakeoffError(
                f"{spec.at('budget')}: the grid has {len(self.runs)} runs but budget.max_runs is "
                f"{limit} — drop strategies, sizes, seeds or wordings, or raise the limit."
            )
        self._subsets: dict[tuple[int | None, int], Splits] = {}

    @property
    def setup(self) -> dict[str, Any]:
        return {
            "task": self.task.name,
            "kind": self.task.kind,
            "data_sha256": data_fingerprint(self.task, self.splits),
            "test_rows": len(self.splits.test),
            "bakeoff": __version__,
        }

    def splits_for(self, run: RunConfig) -> Splits:
        """The full splits with train cut to the run's size (seeded, stratified)."""
        size = run.train_size
        if size is None or size >= len(self.splits.train):
            return self.splits
        key = (size, run.seed)
        if key not in self._subsets:
            train = stratified_sample(self.splits.train, size, run.seed)
            self._subsets[key] = replace(self.splits, train=train)
        return self._subsets[key]

    def run(
        self,
        out: Path,
        model_loader: Callable[[str], LanguageModel],
        progress: ProgressFactory,
        on_done: OnDone = lambda record, skipped: None,
        context: dict[str, Any] | None = None,
    ) -> RunStore:
        store = RunStore(out / STORE_NAME)
        spec = self.spec.model_dump(mode="json")
        spec["task"] = str(self.spec.task_path.resolve())  # the store is read from anywhere
        store.claim_setup(self.setup, spec)
        done = store.done_keys()
        records = {r["key"]: r for r in store.runs()}
        ctx = replace(RunContext(out_dir=out), **(context or {}))
        loaded: dict[str, LanguageModel] = {}

        def model_for(name: str) -> Callable[[], LanguageModel]:
            def load() -> LanguageModel:  # one model in memory at a time, only when needed
                if name not in loaded:
                    loaded.clear()
                    loaded[name] = model_loader(name)
                return loaded[name]

            return load

        for run in self.runs:
            if run.key in done:
                on_done(records[run.key], True)
                continue
            record = execute(
                run, self.task, self.splits_for(run), model_for(run.model), ctx, progress
            )
            if is_main_process():
                store.add(record, run.train_size)
            on_done(record, False)
        return store
