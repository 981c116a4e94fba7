"""New rows for `drift` and `update`: read from a file or from another task's data, validated
exactly like the task's own data, with the labels they bring that the task lacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.errors import BakeoffError, ProblemsError

if TYPE_CHECKING:
    from bakeoff.evaluation.drift import DriftReport
    from bakeoff.task.example import Example
    from bakeoff.task.load import ReadResult
    from bakeoff.task.spec import TaskSpec


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


def drift_of(task: TaskSpec, path: Path, permutations: int) -> DriftReport:
    """How far the rows of `path` have moved from all rows of `task` (`bakeoff drift`)."""
    from bakeoff.evaluation.drift import measure_drift
    from bakeoff.task.data import load_splits

    splits = load_splits(task)
    old = splits.train + splits.validation + splits.test
    return measure_drift(old, new_rows(path, task), permutations=permutations)


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


def accepted_labels(found: dict[str, str], task: TaskSpec, extend: bool) -> list[str]:
    """The labels the new rows bring; an error naming where each first appears unless
    `extend` (--extend-labels) allows them."""
    if found and not extend:
        where = ", ".join(f"'{label}' ({at})" for label, at in found.items())
        raise BakeoffError(
            f"the new rows have labels the experiment does not: {where}; declared: "
            f"{', '.join(task.label_names)} — fix the rows, or pass --extend-labels to add "
            "them (every candidate is then re-adapted on the grown label set)"
        )
    return list(found)


def update_rows(
    folder: Path, data: Path | None, task_file: Path | None, extend_labels: bool
) -> tuple[list[Example], str, list[str]]:
    """The rows of an update of `folder` from `data` or from `task_file`'s data (exactly one),
    where they came from, and the labels they add."""
    from bakeoff.task.load import read_rows
    from bakeoff.task.validate import undeclared_labels
    from bakeoff.update.flow import current_task
    from bakeoff.update.versions import with_labels

    if (data is None) == (task_file is None):
        raise BakeoffError("give the new rows as --data FILE or as --task NEW_TASK.yaml (one)")
    task = current_task(folder)
    if data is not None:
        read = read_rows(data)  # once: for its labels, then for its rows
        added = accepted_labels(undeclared_labels(read.rows, task), task, extend_labels)
        return new_rows(data, with_labels(task, added), read), str(data), added
    assert task_file is not None
    rows, unknown = rows_of_task(task_file, task)
    return rows, str(task_file), accepted_labels(unknown, task, extend_labels)
