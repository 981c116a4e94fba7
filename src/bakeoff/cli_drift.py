"""`bakeoff drift`: how far new rows have moved from a task's data (evaluation/drift.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from bakeoff.cli_output import console
from bakeoff.errors import BakeoffError, ProblemsError

if TYPE_CHECKING:
    from bakeoff.task.example import Example
    from bakeoff.task.load import ReadResult
    from bakeoff.task.spec import TaskSpec

VERDICTS = ("none", "some", "strong")
EXIT_DRIFT = 3  # `--fail-on`: the verdict reached the level asked for


def new_rows(path: Path, task: TaskSpec, result: ReadResult | None = None) -> list[Example]:
    """The new file's rows (`result`: already read from it), validated exactly like the task's
    own data."""
    from bakeoff.task.load import read_rows
    from bakeoff.task.validate import check_rows

    result = result or read_rows(path)
    checked = check_rows(result.rows, task)
    problems = result.problems + checked.problems
    if problems:
        raise ProblemsError(f"{path}: the new data has problems; fix them and rerun", problems)
    return checked.examples


def rows_of_task(path: Path, task: TaskSpec) -> tuple[list[Example], dict[str, str]]:
    """Every row of another task file's data (all its splits), as new rows for `task`, read by
    its own fields (refused when its kind differs); and its labels that `task` lacks, with
    where each is declared."""
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    other = load_task(path)
    if other.kind != task.kind:
        raise BakeoffError(f"{path}: a {other.kind} task; the experiment's is {task.kind}")
    known = set(task.label_names)
    unknown = {name: f"{path}: labels" for name in other.label_names if name not in known}
    splits = load_splits(other)
    return splits.train + splits.validation + splits.test, unknown


def run_drift(task_file: Path, data: Path, permutations: int, as_json: bool) -> str:
    """Print the drift report of `data` against all rows of the task; return the verdict."""
    from bakeoff.evaluation.drift import measure_drift
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(task_file)
    splits = load_splits(task)
    old = splits.train + splits.validation + splits.test
    report = measure_drift(old, new_rows(data, task), permutations=permutations)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return report.verdict
    console.print(
        f"[bold]drift: {report.verdict}[/] — {report.old_rows:,} rows of '{task.name}' against "
        f"{report.new_rows:,} new rows ({report.permutations} permutations; p-values are "
        "compared with 0.05 / 4)"
    )
    for reason in report.reasons:
        console.print(f"  - {escape(reason)}")
    auc = report.input_auc
    console.print(
        f"inputs: AUC {auc.statistic:.2f} (p = {auc.p:.3f}); words of the old rows: "
        f"{', '.join(report.separating_words['old'][:8])}; of the new: "
        f"{', '.join(report.separating_words['new'][:8])}"
    )
    if report.label_js is not None:
        moved = sorted(report.label_shares.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))
        shares = ", ".join(f"{k} {100 * o:.0f}% → {100 * n:.0f}%" for k, (o, n) in moved[:6])
        console.print(
            f"labels: Jensen–Shannon {report.label_js.statistic:.3f} "
            f"(p = {report.label_js.p:.3f}); {shares}"
        )
    if report.length is not None:
        old_words, new_words = report.mean_words
        console.print(
            f"length: {old_words:.1f} → {new_words:.1f} words a row (p = {report.length.p:.3f})"
        )
    if report.unseen_words is not None:
        console.print(
            f"vocabulary: {100 * report.unseen_words.statistic:+.1f} points of unseen words "
            f"beyond the usual (p = {report.unseen_words.p:.3f})"
        )
    return report.verdict
