"""`bakeoff update DIR --data NEW --dry-run`: new labelled rows against an experiment — how far
they drifted from its data (evaluation/drift.py), and the champion's artifact re-scored on the
old test rows and on the new ones, with the change and its CI. Decides nothing and trains
nothing; exits 3 when a re-adaptation should be considered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from bakeoff.cli_drift import new_rows
from bakeoff.cli_output import console
from bakeoff.errors import BakeoffError, ProblemsError

if TYPE_CHECKING:
    from bakeoff.task.example import Example
    from bakeoff.task.spec import TaskSpec

EXIT_CONSIDER = 3  # drift, or the champion got significantly worse on the new rows


@dataclass
class NewVersion:
    train: list[Example]
    test: list[Example]


def split_new_rows(task: TaskSpec, rows: list[Example], old: list[Example]) -> NewVersion:
    """The new rows, checked against every earlier row and each other, split like the task
    (its `split.test` share, stratified, its seed) into new train and new test rows."""
    from bakeoff.task.split import stratified_split
    from bakeoff.task.validate import find_duplicates, find_leakage

    field = task.fields.input or "input_template"
    problems = find_duplicates(rows, field) + find_leakage(
        rows,
        {"task's existing": old},
        field,
        fix="remove the row from the new data: it is already labelled",
    )
    if problems:
        raise ProblemsError("the new data repeats rows; fix them and rerun", problems)
    if len(rows) < 2:
        raise BakeoffError(f"{len(rows)} new row(s): at least 2 are needed (train and test)")
    train, test = stratified_split(rows, task.split.test, task.split.seed)
    return NewVersion(train, test)


def rescore(task: TaskSpec, candidate: Any, rows: list[Example]) -> tuple[Any, dict[str, Any]]:
    """The candidate's headline statistic on `rows` (for the difference), and its metric."""
    from bakeoff.evaluation.score import headline_statistic, score_predictions

    outputs = [p.output for p in candidate.predict(rows)]
    statistic, _ = headline_statistic(task, rows, outputs)
    metrics = score_predictions(task, rows, outputs)["metrics"]
    return statistic, next(iter(metrics.items()))


def recheck_champion(
    folder: Path, task: TaskSpec, old_test: list[Example], new_test: list[Example]
) -> dict[str, Any]:
    """The champion's artifact on the old and the new test rows; the change with its CI."""
    from bakeoff.evaluation.stats import bootstrap_difference
    from bakeoff.serve.source import resolve
    from bakeoff.strategy_registry import load_candidate

    served = resolve(folder)
    _, candidate = load_candidate(served.artifact)
    before, (metric, old_value) = rescore(task, candidate, old_test)
    after, (_, new_value) = rescore(task, candidate, new_test)
    change = bootstrap_difference(after, len(new_test), before, len(old_test))
    return {
        "champion": served.name,
        "run": served.info.get("run"),
        "metric": metric,
        "old": old_value,
        "new": new_value,
        "change": change.as_dict(),
        "old_rows": len(old_test),
        "new_rows": len(new_test),
        "worse": change.high < 0,
    }


def run_update(folder: Path, data: Path, dry_run: bool, permutations: int, as_json: bool) -> bool:
    """Print drift and the champion's re-check; True when a re-adaptation should be considered."""
    from bakeoff.evaluation.drift import measure_drift
    from bakeoff.experiment.store import RunStore
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    if not dry_run:
        raise BakeoffError(
            "bakeoff update re-adapts and promotes challengers in a later version; today it "
            "measures only: rerun with --dry-run (drift and the champion re-checked, no training)"
        )
    store = RunStore.open_existing(folder)
    experiment = store.experiment()
    task = load_task(Path(experiment["task"]))
    splits = load_splits(task, limit_test=experiment.get("test_size"))
    old = splits.train + splits.validation + splits.test
    version = split_new_rows(task, new_rows(data, task), old)
    drift = measure_drift(old, version.train + version.test, permutations=permutations)
    recheck = recheck_champion(folder, task, splits.test, version.test)
    consider = drift.verdict != "none" or recheck["worse"]
    if as_json:
        print(json.dumps({"drift": drift.as_dict(), "champion": recheck, "consider": consider}))
        return consider
    console.print(
        f"[bold]new data[/]: {len(version.train)} train + {len(version.test)} test rows "
        f"(the task's {100 * task.split.test:.0f}% test share, stratified)"
    )
    console.print(f"[bold]drift: {drift.verdict}[/]")
    for reason in drift.reasons:
        console.print(f"  - {escape(reason)}")
    change, pts = recheck["change"], 100
    worse = "significantly worse" if recheck["worse"] else "not significantly worse"
    console.print(
        f"[bold]champion[/] {escape(recheck['champion'])}: {recheck['metric']} "
        f"{pts * recheck['old']['value']:.1f}% on {recheck['old_rows']} old test rows, "
        f"{pts * recheck['new']['value']:.1f}% on {recheck['new_rows']} new ones — change "
        f"{pts * change['value']:+.1f} points (95% CI {pts * change['ci_low']:+.1f} to "
        f"{pts * change['ci_high']:+.1f}; {worse})"
    )
    verdict = (
        "re-adapting should be considered (exit 3)"
        if consider
        else "nothing to do: no drift, and the champion holds on the new rows"
    )
    console.print(verdict)
    return consider
