"""One update of an experiment folder: a new data version, its drift, the champion re-checked on
old and new test rows, challengers re-adapted on the grown data, and the promotion decision.

Resumable: the version is recorded (and its rows kept in versions/vN.jsonl) before anything is
adapted; every challenger's run is stored the moment it ends; rerunning the same update skips
what is stored and ends as an uninterrupted update would. Nothing of an earlier version changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.evaluation.drift import measure_drift
from bakeoff.evaluation.score import headline_statistic, score_predictions
from bakeoff.evaluation.stats import bootstrap_difference
from bakeoff.experiment.executor import Worker, execute
from bakeoff.experiment.grid import Experiment
from bakeoff.experiment.plan import RunConfig
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.spec import ExperimentSpec
from bakeoff.experiment.store import RunStore, exclusive, save_record
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec
from bakeoff.update.promotion import Scored, decide
from bakeoff.update.versions import (
    FIRST_UPDATE,
    DataVersion,
    labels_added,
    load_version,
    make_version,
    rows_fingerprint,
    save_version,
    with_labels,
)


@dataclass(frozen=True)
class UpdateOptions:
    """How an update runs (`bakeoff update`'s options; docs/maintenance.md)."""

    dry_run: bool = False  # measure only: drift and the champion re-checked
    challengers: int = 2  # next-best candidates re-adapted beside the champion's own
    window: int | None = None  # train on the newest N versions' new rows (None: all)
    margin: float | None = None  # non-inferiority on old rows (None: max_quality_loss)
    permutations: int = 199  # per drift test
    warm_start: bool = False  # also train a fine-tuned champion on from its own weights


@dataclass
class Champion:
    name: str
    record: RunRecord
    artifact: Path


@dataclass
class UpdateResult:
    version: DataVersion
    drift: dict[str, Any]  # DriftReport.as_dict()
    recheck: dict[str, Any]
    challengers: list[RunRecord]
    decision: dict[str, Any] | None  # Decision.as_dict(); None: a dry run
    skipped: list[str]  # candidates not re-adapted, with why
    already_decided: bool = False  # the same update asked for again: its stored result


def current_task(folder: Path) -> TaskSpec:
    """The experiment's task with every label earlier updates added: what new rows are read
    against."""
    from bakeoff.task.spec import load_task

    store = RunStore.open_existing(folder)
    spec = ExperimentSpec.model_validate(store.experiment())
    return with_labels(load_task(spec.task_path.resolve()), labels_added(store.versions()))


def experiment_report(store: RunStore) -> dict[str, Any]:
    """The experiment's report: its ranking and recommendation (built once per update)."""
    from bakeoff.report.build import build_report

    return build_report(store)


def current_champion(
    folder: Path, store: RunStore, before: int, report: dict[str, Any]
) -> Champion:
    """The champion when version `before` arrived: the last challenger promoted by an earlier
    update, else the experiment's recommendation (`report`: experiment_report)."""
    promotion = store.last_promotion(before)
    if promotion is not None:
        decision, record = promotion[0]["decision"], promotion[1]
        return Champion(decision["promoted"], record, folder / "runs" / record.key / "artifact")
    name = report["recommendation"]["choice"]
    if name is None:
        raise BakeoffError(f"{folder}: no finished runs, so no champion — run the experiment")
    primary = next(c["primary"] for c in report["candidates"] if c["name"] == name)
    record = next(r for r in store.runs() if r.key == primary)
    return Champion(name, record, folder / "runs" / primary / "artifact")


def _ranked_records(store: RunStore, report: dict[str, Any]) -> list[tuple[str, RunRecord]]:
    by_key = {r.key: r for r in store.runs()}
    return [(c["name"], by_key[c["primary"]]) for c in report["candidates"]]


def challengers_for(
    store: RunStore,
    champion: Champion,
    count: int,
    report: dict[str, Any],
    every: bool = False,
) -> tuple[list[tuple[str, RunRecord]], list[str]]:
    """The champion's own candidate first, then the next best of other strategies; candidates
    that learn from no labelled rows (zero-shot, a search on validation) would come out the
    same, so they are skipped, with the reason. `every`: the label set grew, so every
    candidate is re-adapted (a zero-shot prompt lists the labels too)."""
    chosen: list[tuple[str, RunRecord]] = []
    skipped: list[str] = []
    seen = set()
    for name, record in [(champion.name, champion.record), *_ranked_records(store, report)]:
        identity = _base_config(record).key  # a promoted v2 run is its v1 candidate again
        if (len(chosen) > count and not every) or identity in seen:
            continue
        seen.add(identity)
        if record.train_size is None and not record.trained and not every:
            skipped.append(f"{name}: learns from no labelled rows, re-adapting changes nothing")
            continue
        chosen.append((name, record))
    return chosen, skipped


def _base_config(record: RunRecord, version: int = 1) -> RunConfig:
    return RunConfig(
        record.strategy, record.settings, record.model, record.seed, record.train_size, version
    )


def _outputs(record: RunRecord) -> list[str | None]:
    return [p["output"] for p in record.predictions]


def recheck(
    task: TaskSpec, champion: Champion, old: list[Example], new: list[Example]
) -> tuple[dict[str, Any], Scored]:
    """The champion's artifact on the old and the new test rows; the change with its CI."""
    from bakeoff.strategy_registry import load_candidate

    if not (champion.artifact / "manifest.json").exists():
        raise BakeoffError(f"{champion.artifact}: the champion's artifact is missing — rerun it")
    _, candidate = load_candidate(champion.artifact)
    outputs = [p.output for p in candidate.predict(old + new)]
    old_out, new_out = outputs[: len(old)], outputs[len(old) :]
    before, _ = headline_statistic(task, old, old_out)
    after, _ = headline_statistic(task, new, new_out)
    change = bootstrap_difference(after, len(new), before, len(old))
    metric, old_value = next(iter(score_predictions(task, old, old_out)["metrics"].items()))
    new_value = score_predictions(task, new, new_out)["metrics"][metric]
    summary = {
        "champion": champion.name,
        "run": champion.record.key,
        "metric": metric,
        "old": old_value,
        "new": new_value,
        "change": change.as_dict(),
        "old_rows": len(old),
        "new_rows": len(new),
        "worse": change.high < 0,
    }
    return summary, Scored(champion.name, champion.record.key, old_out, new_out)


class Update:
    """An experiment folder made ready for one update with the rows of `data`."""

    def __init__(
        self,
        folder: Path,
        new_rows: list[Example],
        source: str,
        new_labels: list[str] | None = None,
    ):
        """`new_labels`: labels the rows bring that no earlier version has (--extend-labels)."""
        self.folder, self.source = folder, source
        self.store = RunStore.open_existing(folder)
        self.spec = ExperimentSpec.model_validate(self.store.experiment())
        self.experiment = Experiment(self.spec)
        stored = self.store.versions()
        by_fingerprint = {v["fingerprint"]: v["number"] for v in stored}
        given = rows_fingerprint(new_rows)
        self.resumed = given in by_fingerprint  # the same rows again: that update, resumed
        number = (
            by_fingerprint[given]
            if self.resumed
            else max([FIRST_UPDATE - 1, *(v["number"] for v in stored)]) + 1
        )
        self.recorded = next((v for v in stored if v["number"] == number), None)
        self.decided = next((p for p in self.store.promotions() if p["version"] == number), None)
        # the label set: the task's, and what earlier versions and this one added
        own = (self.recorded or {}).get("labels_added", []) if self.resumed else new_labels
        self.labels_added: list[str] = list(own or [])
        self.task = with_labels(
            self.experiment.task, labels_added(stored, below=number) + self.labels_added
        )
        self.experiment.task = self.task  # challengers adapt on the grown label set
        # what came before this version: the experiment's data and the earlier updates
        self.earlier = [load_version(folder, v["number"]) for v in stored if v["number"] < number]
        splits = self.experiment.splits
        self.old_rows = splits.train + splits.validation + splits.test
        self.old_rows += [ex for v in self.earlier for ex in v.train + v.test]
        self.old_test = splits.test + [ex for v in self.earlier for ex in v.test]
        self.version = (
            load_version(folder, number)
            if self.resumed
            else make_version(self.task, new_rows, self.old_rows, number)
        )

    def train_rows(self, window: int | None) -> list[Example]:
        """New train rows of this version and, with no window, of every earlier update."""
        versions = [*self.earlier, self.version]
        if window is not None:
            versions = versions[-window:]
        return [ex for v in versions for ex in v.train]

    def run(self, options: UpdateOptions, worker: Worker | None = None) -> UpdateResult:
        dry_run, window, margin = options.dry_run, options.window, options.margin
        if self.decided is not None and not dry_run:
            return self._as_decided(window)
        new_test = self.version.test
        drift = measure_drift(
            self.old_rows, self.version.train + new_test, permutations=options.permutations
        ).as_dict()
        report = experiment_report(self.store)
        champion = current_champion(self.folder, self.store, self.version.number, report)
        summary, champion_scored = recheck(self.task, champion, self.old_test, new_test)
        if dry_run:
            return UpdateResult(self.version, drift, summary, [], None, [])
        with exclusive(self.folder):
            store = RunStore(self.store.path)  # writable, under the folder's lock
            self._claim(store, window, drift, summary)
            relabel = bool(self.labels_added)
            chosen, skipped = challengers_for(
                store, champion, options.challengers, report, every=relabel
            )
            runs = [(name, _base_config(r, self.version.number)) for name, r in chosen]
            if options.warm_start and relabel:
                skipped.append("warm start: the label set grew, so every candidate starts afresh")
            elif (
                options.warm_start and champion.record.trained
            ):  # the champion trained on from its weights
                warm = replace(runs[0][1], warm_start=champion.record.key)
                runs.insert(1, (f"{champion.name} (warm start)", warm))
            records = self._adapt(store, runs, window, worker or Worker())
            scored = [
                Scored(
                    name,
                    r.key,
                    _outputs(r)[: len(self.old_test)],
                    _outputs(r)[len(self.old_test) :],
                )
                for (name, _), r in zip(runs, records, strict=True)
            ]
            limit = self.spec.constraints.max_quality_loss if margin is None else margin
            decision = decide(self.task, self.old_test, new_test, champion_scored, scored, limit)
            store.put_promotion(
                {
                    "version": self.version.number,
                    "decided_at": time.time(),
                    "decision": decision.as_dict(),
                    "adapt_seconds": {r.key: r.usage.adapt_seconds for r in records},
                    "skipped": skipped,
                }
            )
            store.close()
        if self.spec.tracking.mlflow is not None:  # challengers logged; a promotion moves the alias
            from bakeoff.tracking import MlflowLog

            log = MlflowLog(self.spec.tracking.mlflow, self.spec.name)
            log.log_runs(self.folder, records, {})
            if decision.promoted_key:
                log.set_champion(decision.promoted_key)
        return UpdateResult(self.version, drift, summary, records, decision.as_dict(), skipped)

    def _claim(
        self, store: RunStore, window: int | None, drift: dict[str, Any], recheck: dict[str, Any]
    ) -> None:
        """Record the version under the folder's lock — or refuse when another update took its
        number meanwhile, or a resumed one is asked for another window."""
        number = self.version.number
        taken = next((v for v in store.versions() if v["number"] == number), None)
        if taken is not None and taken["fingerprint"] != self.version.fingerprint:
            raise BakeoffError(
                f"another `bakeoff update` added data version {number} to {self.folder} while "
                "this one was measuring — rerun this command to add its rows as the next version"
            )
        if taken is not None and taken.get("window") != window:
            raise BakeoffError(
                f"data version {number} was begun with --window {taken.get('window') or 'all'}; "
                "rerun with the same window to resume it (its challengers train on those rows)"
            )
        if taken is None:
            save_version(self.folder, self.version)
            store.put_version(
                {
                    "number": number,
                    "fingerprint": self.version.fingerprint,
                    "source": self.source,
                    "created_at": time.time(),
                    "train_rows": len(self.version.train),
                    "test_rows": len(self.version.test),
                    "window": window,
                    "labels_added": self.labels_added,
                    "drift": drift,
                    "recheck": recheck,
                }
            )

    def _as_decided(self, window: int | None) -> UpdateResult:
        """A finished update asked for again: what it decided, unchanged."""
        assert self.decided is not None and self.recorded is not None
        if self.recorded.get("window") != window:
            raise BakeoffError(
                f"data version {self.version.number} was decided with --window "
                f"{self.recorded.get('window') or 'all'}; nothing to redo"
            )
        decision = self.decided["decision"]
        keys = [c["key"] for c in decision["challenges"]]
        by_key = {r.key: r for r in self.store.update_runs(self.version.number)}
        return UpdateResult(
            self.version,
            self.recorded["drift"],
            self.recorded["recheck"],
            [by_key[k] for k in keys],
            decision,
            self.decided.get("skipped", []),
            already_decided=True,
        )

    def _adapt(
        self,
        store: RunStore,
        runs: list[tuple[str, RunConfig]],
        window: int | None,
        worker: Worker,
    ) -> list[RunRecord]:
        done = {r.key: r for r in store.update_runs()}
        out = []
        for _, run in runs:
            if run.key in done:
                out.append(done[run.key])
                continue
            base = self.experiment.splits_for(replace(run, data_version=1, warm_start=None))
            splits = replace(
                base,
                train=base.train + self.train_rows(window),
                test=self.old_test + self.version.test,
            )
            job = replace(self.experiment.job(run, self.folder), splits=splits)
            result = execute(job, worker)
            if job.run_dir is not None:
                save_record(job.run_dir, result)
            store.add_update_run(result)
            out.append(result)
        return out
