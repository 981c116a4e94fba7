"""A data version: newly labelled rows, checked against every earlier row, split like the task
into train and test rows, kept in the experiment folder (versions/vN.jsonl) so later updates
and reruns read them without the user's file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.atomic import write_text_atomic
from bakeoff.errors import BakeoffError, ProblemsError
from bakeoff.task.example import Example
from bakeoff.task.spec import LabelSpec, TaskSpec

FIRST_UPDATE = 2  # the experiment's own data is version 1


@dataclass
class DataVersion:
    number: int
    train: list[Example]
    test: list[Example]

    @property
    def fingerprint(self) -> str:
        return rows_fingerprint(self.train + self.test)


def with_labels(task: TaskSpec, added: list[str]) -> TaskSpec:
    """The task with labels added by updates (`--extend-labels`), after its own."""
    if not added:
        return task
    grown = [*(task.labels or []), *(LabelSpec(name=name) for name in added)]
    return task.model_copy(update={"labels": grown})


def labels_added(versions: list[dict[str, Any]], below: int | None = None) -> list[str]:
    """The labels the stored versions (those numbered below `below`, if given) added."""
    return [
        name
        for v in versions
        if below is None or v["number"] < below
        for name in v.get("labels_added", [])
    ]


def rows_fingerprint(rows: list[Example]) -> str:
    digest = hashlib.sha256()
    for ex in sorted(rows, key=lambda e: (e.text, e.target)):
        digest.update(f"{ex.text}\t{ex.target}\n".encode())
    return digest.hexdigest()[:16]


def rows_file(folder: Path, number: int) -> Path:
    return folder / "versions" / f"v{number}.jsonl"


def save_version(folder: Path, version: DataVersion) -> Path:
    lines = [
        json.dumps(
            {"split": split, "id": ex.id, "text": ex.text, "label": ex.label,
             "references": list(ex.references)},
            ensure_ascii=False,
        )
        for split, rows in (("train", version.train), ("test", version.test))
        for ex in rows
    ]  # fmt: skip
    path = rows_file(folder, version.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def load_version(folder: Path, number: int) -> DataVersion:
    path = rows_file(folder, number)
    if not path.exists():
        raise BakeoffError(
            f"{path}: the rows of data version {number} are missing — restore the folder "
            "from a copy (the store records the version but its rows are gone)"
        )
    train: list[Example] = []
    test: list[Example] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ex = Example(row["id"], row["text"], row["label"], tuple(row["references"]))
        (train if row["split"] == "train" else test).append(ex)
    return DataVersion(number, train, test)


def make_version(
    task: TaskSpec, rows: list[Example], earlier: list[Example], number: int
) -> DataVersion:
    """The new rows, refused when one repeats an earlier row (of any version, any split) or
    another new row; split like the task (its `split.test` share, stratified, its seed)."""
    from bakeoff.task.split import stratified_split
    from bakeoff.task.validate import find_duplicates, find_leakage

    field = task.fields.input or "input_template"
    problems = find_duplicates(rows, field) + find_leakage(
        rows,
        {"task's existing": earlier},
        field,
        fix="remove the row from the new data: it is already labelled",
    )
    if problems:
        raise ProblemsError("the new data repeats rows; fix them and rerun", problems)
    if len(rows) < 2:
        raise BakeoffError(f"{len(rows)} new row(s): at least 2 are needed (train and test)")
    train, test = stratified_split(rows, task.split.test, task.split.seed)
    return DataVersion(number, train, test)
