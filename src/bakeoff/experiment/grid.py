"""Run an experiment: expand model × strategy × train size × seed × wording into runs, run
those the store does not have yet, and record each one the moment it finishes.

    bakeoff run examples/sst2/experiment.yaml --out runs/sst2
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.experiment.executor import RunJob, Worker, execute, is_main_process
from bakeoff.experiment.plan import RunConfig, check_wordings, run_settings
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.registry import default_training, own_settings
from bakeoff.experiment.spec import DEFAULT_MAX_RUNS, DOCS, ExperimentSpec, StrategyEntry
from bakeoff.experiment.store import STORE_NAME, RunStore, exclusive, save_record
from bakeoff.models.backends import BackendOptions
from bakeoff.task.data import Splits, load_splits
from bakeoff.task.spec import TaskSpec, load_task
from bakeoff.task.split import stratified_sample
from bakeoff.version import __version__

OnDone = Callable[[RunRecord, bool], None]  # (run record, skipped because already done)
OnStart = Callable[[int, int, RunConfig], None]  # (index, total, run) as a run starts
# (run, attempt, error, final) as an attempt fails (Ray executor); final: no attempt is left
OnFailure = Callable[[RunConfig, int, str, bool], None]


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


def _training(spec: ExperimentSpec, entry: StrategyEntry, where: str) -> dict[str, Any]:
    train = {**spec.training, **entry.training}
    if spec.budget.max_train_minutes and "max_minutes" not in train:
        train["max_minutes"] = spec.budget.max_train_minutes
    return default_training(entry.resolved, {"train": train, **entry.own_settings}, where)


def plan_runs(spec: ExperimentSpec, sizes: list[int]) -> list[RunConfig]:
    """Every run of the grid, in the order they run: cheap prompting first, per model.

    Each strategy varies only over the grid axes it registered: zero-shot learns from no
    labels, so size and seed change nothing and it runs once per wording; trained strategies
    use the first wording (training is the costly part). A strategy that brings its own model
    (encoder-head) runs once, not once per model.
    """
    prompt = spec.prompt
    base = {
        "format": prompt.format,
        "decode": prompt.decode,
        "normalize": prompt.normalize,
        "calibrate": prompt.calibrate,
    }
    runs: list[RunConfig] = []
    for model_index, model in enumerate(spec.models):
        for index, entry in enumerate(spec.entries):
            resolved = entry.resolved
            own_model = resolved.main.own_model
            if own_model is not None and model_index > 0:
                continue
            axes = resolved.axes
            shots = entry.shots or prompt.shots
            demos = entry.demos or prompt.demos
            where = f"{spec.at('strategies')}: strategies[{index}] ({entry.name})"
            training = _training(spec, entry, where) if entry.trained else None
            own = own_settings(resolved, entry.own_settings, where, DOCS)  # the prompt part's
            wordings = entry.wordings or spec.wordings
            wordings = wordings if "wording" in axes else wordings[:1]
            for size in sizes if "train_size" in axes else [None]:
                for seed in spec.seeds if "seed" in axes else [0]:  # 0: nothing to vary
                    for wording in wordings:
                        decode = {"decode": entry.decode} if entry.decode else {}
                        settings = run_settings(
                            resolved, {**base, "shots": shots, **decode}, wording, demos, training
                        )
                        settings.update(own)
                        name = own_model(settings) if own_model is not None else model
                        runs.append(RunConfig(entry.name, settings, name, seed, size))
    unique = {run.key: run for run in runs}
    if len(unique) != len(runs):
        raise BakeoffError(f"{spec.at('strategies')}: two entries describe the same runs.")
    return runs


# Task fields added after stores began, newest first, as paths into the task's dump. Until
# 2026-12-01 a store's fingerprint hashed every field a release knew, defaults included.
_TASK_FIELDS_ADDED = (("output",), ("data", "max_input_chars"), ("data", "truncate_long_inputs"))


def data_fingerprint(task: TaskSpec, splits: Splits, *, with_defaults: bool = False) -> str:
    """The splits' rows and the task's settings. Settings left at their defaults are not part
    of it, so a field a later bakeoff adds to task files does not orphan earlier stores."""
    dump = task.model_dump(mode="json", exclude_defaults=not with_defaults)
    return splits.digest(json.dumps(dump, sort_keys=True))


def _old_dumps(task: TaskSpec) -> Iterator[dict[str, Any]]:
    """The task's dump as each earlier release wrote it: every field, less those it did not
    have yet (a field is only left out while it is at its default)."""
    dump = task.model_dump(mode="json")
    defaults = task.model_dump(mode="json", exclude_defaults=True)
    yield dump
    for path in _TASK_FIELDS_ADDED:
        *parents, leaf = path
        outer, given = dump, defaults
        for key in parents:
            outer, given = outer[key], given.get(key, {})
        if leaf in given:  # set by the user: no release without it could have read this file
            return
        outer.pop(leaf, None)
        yield dump


def fingerprint_matches(task: TaskSpec, splits: Splits, recorded: str) -> bool:
    """Whether `recorded` (a store's) is this data's fingerprint — in today's form, or in the
    form of the release that made the store (stores made until 2026-12-01)."""
    if recorded == data_fingerprint(task, splits):
        return True
    return any(
        recorded == splits.digest(json.dumps(dump, sort_keys=True)) for dump in _old_dumps(task)
    )


class Experiment:
    """An experiment file made ready to run: task, data, sizes and the planned runs."""

    def __init__(self, spec: ExperimentSpec, backend: BackendOptions | None = None):
        self.spec = spec
        self.backend = backend or spec.backend
        self.task = load_task(spec.task_path.resolve())  # row ids name absolute files
        drop = spec.drop_invalid or None
        self.splits = load_splits(self.task, limit_test=spec.test_size, drop_invalid=drop)
        self.sizes = resolve_sizes(spec, len(self.splits.train))
        self.runs = plan_runs(spec, self.sizes)
        check_wordings(self.task, self.runs, f"{spec.at('wordings')}: wordings")
        limit = spec.budget.max_runs
        if limit is not None and len(self.runs) > limit:
            raise BakeoffError(
                f"{spec.at('budget')}: the grid has {len(self.runs)} runs but budget.max_runs is "
                f"{limit} — drop strategies, sizes, seeds or wordings, or raise the limit."
            )
        if limit is None and len(self.runs) > DEFAULT_MAX_RUNS:
            raise BakeoffError(
                f"{spec.where}: the grid has {len(self.runs)} runs, over the default cap of "
                f"{DEFAULT_MAX_RUNS} — drop strategies, sizes, seeds or wordings, or confirm "
                f"with `budget: {{max_runs: {len(self.runs)}}}`."
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

    def job(self, run: RunConfig, out: Path | None) -> RunJob:
        """The run as plain data, ready for any executor."""
        return RunJob(
            run,
            self.task,
            self.splits_for(run),
            self.backend,
            out / "runs" / run.key if out is not None else None,
        )

    def run(
        self,
        out: Path,
        worker: Worker | None = None,
        on_start: OnStart = lambda index, total, run: None,
        on_done: OnDone = lambda record, skipped: None,
        on_failure: OnFailure = lambda run, attempt, error, final: None,
    ) -> RunStore:
        """Run what the store does not hold yet; each record is stored the moment it exists.
        The driver holds the folder's lock throughout (a second run on it refuses)."""
        main = is_main_process()
        with exclusive(out) if main else nullcontext():
            store = RunStore(out / STORE_NAME, read_only=not main)
            spec = self.spec.model_dump(mode="json")
            spec["task"] = str(self.spec.task_path.resolve())  # the store is read from anywhere
            spec["task_from_store"] = os.path.relpath(spec["task"], out.resolve())  # or moved
            if main:
                setup = self.setup
                recorded = (store.meta("setup") or {}).get("data_sha256")
                if recorded not in (None, setup["data_sha256"]) and fingerprint_matches(
                    self.task, self.splits, recorded
                ):
                    setup["data_sha256"] = recorded  # the same data, fingerprinted the old way
                store.claim_setup(setup, spec)
            records = {r.key: r for r in store.runs()}
            todo: list[tuple[int, RunConfig]] = []
            for index, run in enumerate(self.runs):
                if run.key in records:
                    on_done(records[run.key], True)
                else:
                    todo.append((index, run))

            def keep(job: RunJob, record: RunRecord) -> None:
                if main:
                    if job.run_dir is not None:
                        save_record(job.run_dir, record)
                    store.add(record)
                on_done(record, False)

            if self.spec.executor.kind == "ray" and main:
                self._run_on_ray(out, store, todo, on_start, keep, on_failure)
                return store
            worker = worker or Worker()
            for index, run in todo:
                on_start(index, len(self.runs), run)
                job = self.job(run, out)
                keep(job, execute(job, worker))
        return store

    def _run_on_ray(
        self,
        out: Path,
        store: RunStore,
        todo: list[tuple[int, RunConfig]],
        on_start: OnStart,
        keep: Callable[[RunJob, RunRecord], None],
        on_failure: OnFailure,
    ) -> None:
        """The runs as Ray tasks (experiment/ray_executor.py); failed attempts are stored."""
        from bakeoff.experiment.ray_executor import run_on_ray

        index = {run.key: i for i, run in todo}
        jobs = [self.job(run, out) for _, run in todo]

        def submitted(job: RunJob) -> None:
            on_start(index[job.run.key], len(self.runs), job.run)

        for outcome in run_on_ray(self.spec.executor, jobs, submitted):
            job = outcome.job
            if outcome.record is not None:
                keep(job, outcome.record)
                continue
            error = outcome.error or ""
            store.add_failure(job.run.key, job.run.label, outcome.attempt, error)
            on_failure(job.run, outcome.attempt, error, outcome.final)
