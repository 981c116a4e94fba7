"""From a TaskSpec to validated train / validation / test splits, or a clear error."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace

from bakeoff.errors import BakeoffError, Problem, ProblemsError
from bakeoff.task.example import Example
from bakeoff.task.load import ReadResult, read_hf_dataset, read_rows
from bakeoff.task.spec import TaskSpec
from bakeoff.task.split import stratified_sample, stratified_split
from bakeoff.task.validate import check_rows, find_duplicates, find_leakage


@dataclass
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows dropped
    truncated: int = 0  # inputs cut to the task's `data.max_input_chars` (when it asks)

    def digest(self, salt: str = "") -> str:
        """A short hash of the content (split, text, target) of every row, after `salt`: where
        the files live does not count, so a moved or copied folder keeps its fingerprint."""
        digest = hashlib.sha256(salt.encode())
        for name in ("test", "train", "validation"):
            for ex in getattr(self, name):
                digest.update(f"{name}\t{ex.text}\t{ex.target}\n".encode())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, object]:
        def counts(rows: list[Example]) -> dict[str, int]:
            return dict(sorted(Counter(ex.label or "-" for ex in rows).items()))

        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
            "train_labels": counts(self.train),
            "test_labels": counts(self.test),
            "dropped": self.dropped,
            "truncated": self.truncated,
        }


def _read_sources(task: TaskSpec) -> dict[str, ReadResult]:
    data = task.data
    if data.hf_dataset is not None:
        return read_hf_dataset(data.hf_dataset, data.hf_splits)
    files = {
        "file": data.file,
        "train": data.train,
        "validation": data.validation,
        "test": data.test,
    }
    return {
        name: read_rows(path) for name, p in files.items() if (path := task.resolve(p)) is not None
    }


def _reason(problem: Problem) -> str:
    msg = problem.message
    keys = ("duplicate", "same text", "also in", "not one of", "missing", "empty", "JSON")
    for key in (*keys, "over the limit", "invalid character"):
        if key in msg:
            return key
    return "invalid"


def load_splits(
    task: TaskSpec,
    *,
    seed: int = 0,
    train_size: int | None = None,
    limit_test: int | None = None,
    drop_invalid: bool | None = None,
) -> Splits:
    """Read, validate and split the task's data. Raises ProblemsError listing every problem."""
    drop = task.data.drop_invalid if drop_invalid is None else drop_invalid
    problems: list[Problem] = []
    parts: dict[str, list[Example]] = {}
    truncated = 0
    for name, result in _read_sources(task).items():
        checked = check_rows(result.rows, task)
        problems += result.problems + checked.problems
        parts[name] = checked.examples
        truncated += checked.truncated

    one_file = "file" in parts
    if one_file:
        rest, test = stratified_split(parts.pop("file"), task.split.test, task.split.seed)
        parts["train"], parts["test"] = rest, test
    if "test" not in parts:
        parts["train"], parts["test"] = stratified_split(
            parts["train"], task.split.test, task.split.seed
        )
    if "validation" not in parts:
        # Of the whole file, `split.validation` goes to validation: rescale after the test cut.
        frac = task.split.validation / (1 - task.split.test) if one_file else task.split.validation
        parts["train"], parts["validation"] = stratified_split(
            parts["train"], frac, task.split.seed + 1
        )

    input_field = task.fields.input or "input_template"
    split_problems = find_duplicates(parts["train"], input_field) + find_leakage(
        parts["train"], {"test": parts["test"], "validation": parts["validation"]}, input_field
    )
    for held_out in ("validation", "test"):  # a row scored against two answers: one is wrong
        split_problems += find_duplicates(parts[held_out], input_field, conflicts_only=True)
    problems += split_problems
    if problems and not drop:
        raise ProblemsError(
            "the data has problems; fix them or rerun with --drop-invalid to drop those rows",
            problems,
        )
    bad = {f"{p.file}:{p.line}" for p in split_problems}
    dropped = dict(Counter(_reason(p) for p in problems))
    kept = [
        [ex for ex in parts[name] if ex.id not in bad] for name in ("train", "validation", "test")
    ]
    train, validation, test = (_portable(rows, task) for rows in kept)
    splits = Splits(train, validation, test, dropped, truncated)
    _check_usable(task, splits)
    if train_size is not None:
        splits.train = stratified_sample(splits.train, train_size, seed)
    if limit_test is not None:
        splits.test = stratified_sample(splits.test, limit_test, task.split.seed)
    return splits


def _portable(rows: list[Example], task: TaskSpec) -> list[Example]:
    """Row ids relative to the task file's folder ("data/train.jsonl:12"), so predictions stored
    under one path still match the rows when the folder has been moved or copied."""
    base = str(task.base_dir.resolve())
    out = []
    for ex in rows:
        file, sep, line = ex.id.rpartition(":")
        if sep and os.path.isabs(file):
            ex = replace(ex, id=f"{os.path.relpath(file, base)}:{line}")
        out.append(ex)
    return out


def _check_usable(task: TaskSpec, splits: Splits) -> None:
    where = task.where
    for name in ("train", "validation", "test"):
        if not getattr(splits, name):
            raise BakeoffError(
                f"{where}: the {name} split is empty after validation — add rows "
                "or lower the split fractions."
            )
    if task.kind == "classification":
        present = {ex.label for ex in splits.train}
        if len(present) < 2:
            raise BakeoffError(
                f"{where}: train has only the label(s) {sorted(map(str, present))}; "
                "a classifier needs at least two — add rows of the other labels."
            )
