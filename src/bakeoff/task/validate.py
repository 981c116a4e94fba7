"""Turn raw rows into Examples, listing every problem with its file, line and field."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from bakeoff.errors import Problem, ProblemsError
from bakeoff.task.example import Example, normalize_text
from bakeoff.task.load import RawRow, ReadResult
from bakeoff.task.spec import TaskSpec
from bakeoff.templating import TemplateError, render_template


@dataclass
class Checked:
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bad_ids: set[str] = field(default_factory=set)
    truncated: int = 0  # inputs cut to `data.max_input_chars` (only when the task asks)

    def add(self, row: RawRow, field_name: str | None, message: str, fix: str) -> None:
        self.problems.append(Problem(row.file, row.line, field_name, message, fix))
        self.bad_ids.add(f"{row.file}:{row.line}")


def _text_field(row: RawRow, name: str, out: Checked, what: str) -> str | None:
    if name not in row.record:
        present = ", ".join(sorted(row.record)) or "none"
        out.add(row, name, f"missing {what} field", f"add it, or map `fields` to one of: {present}")
        return None
    value = row.record[name]
    if value is None:
        out.add(row, name, f"{what} is null", "fill it in or remove the row")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        out.add(
            row, name, f"{what} must be text, got {type(value).__name__}", "store it as a string"
        )
        return None
    text = str(value)
    if not text.strip():
        out.add(row, name, f"{what} is empty", "fill it in or remove the row")
        return None
    return text


def _input_text(row: RawRow, task: TaskSpec, out: Checked) -> str | None:
    fields = task.fields
    if fields.input is not None:
        name = fields.input
        text = _text_field(row, name, out, "input")
    else:
        name = "input_template"
        try:
            text = render_template(fields.input_template or "", row.record)
        except TemplateError as exc:
            out.add(row, name, str(exc), "add the field to the row or fix the template")
            return None
        if not text.strip():
            out.add(row, name, "renders to empty text", "check the fields it uses")
            return None
    return None if text is None else _usable_input(row, name, text, task, out)


def _usable_input(row: RawRow, name: str, text: str, task: TaskSpec, out: Checked) -> str | None:
    """Text a tokenizer can take (valid Unicode) of a length the task allows."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        out.add(
            row,
            name,
            f"invalid character at position {exc.start} (a lone surrogate such as \\ud800)",
            "remove it or re-save the file as valid UTF-8",
        )
        return None
    limit = task.data.max_input_chars
    if len(text) > limit:
        if task.data.truncate_long_inputs:
            out.truncated += 1
            return text[:limit]
        out.add(
            row,
            name,
            f"input is {len(text):,} characters, over the limit of {limit:,}",
            "shorten the row, raise `data.max_input_chars`, or set "
            "`data.truncate_long_inputs: true` to cut long inputs",
        )
        return None
    return text


def _label(row: RawRow, task: TaskSpec, out: Checked) -> str | None:
    assert task.fields.label is not None
    value = _text_field(row, task.fields.label, out, "label")
    if value is None:
        return None
    names = task.label_names
    if value in names:
        return value
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(value, names, n=1) or (
        [folded[value.casefold()]] if value.casefold() in folded else []
    )
    hint = f"did you mean '{close[0]}'? " if close else ""
    out.add(
        row,
        task.fields.label,
        f"label '{value}' is not one of the declared labels",
        f"{hint}declared: {', '.join(names)} — fix the row or add the label to `labels:`",
    )
    return None


def _references(row: RawRow, task: TaskSpec, out: Checked) -> tuple[str, ...] | None:
    fields = task.fields
    refs: list[str] = []
    if fields.output is not None:
        output = _text_field(row, fields.output, out, "output")
        if output is None:
            return None
        refs.append(output)
    if fields.references is not None and fields.references in row.record:
        value = row.record[fields.references]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            out.add(
                row,
                fields.references,
                "references must be a list of non-empty strings",
                'write e.g. ["first answer", "second answer"]',
            )
            return None
        refs.extend(v for v in value if v not in refs)
    elif fields.output is None:
        out.add(row, fields.references, "missing references field", "add the list of references")
        return None
    return tuple(refs)


def undeclared_labels(rows: Iterable[RawRow], task: TaskSpec) -> dict[str, str]:
    """Label values of `rows` the task does not declare → where each first appears (file:line),
    in the order met (`bakeoff update --extend-labels` adds them); none for generation tasks."""
    names, found = set(task.label_names), dict[str, str]()
    if task.fields.label is None:
        return found
    for row in rows:
        value = _text_field(row, task.fields.label, Checked(), "label")
        if value is not None and value not in names:
            found.setdefault(value, f"{row.file}:{row.line}")
    return found


def check_rows(rows: Iterable[RawRow], task: TaskSpec) -> Checked:
    """Examples for the valid rows; a Problem for each invalid one."""
    out = Checked()
    for row in rows:
        text = _input_text(row, task, out)
        if task.kind == "classification":
            label = _label(row, task, out)
            if text is not None and label is not None:
                out.examples.append(Example(f"{row.file}:{row.line}", text, label=label))
        else:
            refs = _references(row, task, out)
            if text is not None and refs is not None:
                out.examples.append(Example(f"{row.file}:{row.line}", text, references=refs))
    return out


def _where(example_id: str) -> tuple[str, int | None]:
    file, _, line = example_id.rpartition(":")
    return (file, int(line)) if line.isdigit() else (example_id, None)


def find_duplicates(
    rows: list[Example], input_field: str, conflicts_only: bool = False
) -> list[Problem]:
    """Repeated rows inside a split: the same input with the same target, or with conflicting
    ones (only the conflicts with `conflicts_only`, for held-out splits)."""
    seen: dict[str, Example] = {}
    problems = []
    for ex in rows:
        key = normalize_text(ex.text)
        first = seen.get(key)
        if first is None:
            seen[key] = ex
            continue
        file, line = _where(ex.id)
        if first.target == ex.target:
            if conflicts_only:
                continue
            msg, fix = f"duplicate of {first.id}", "remove the repeated row"
        elif ex.label is not None:
            msg = f"same text as {first.id} but label '{ex.label}' vs '{first.label}'"
            fix = "decide which label is right and keep one row"
        else:
            continue  # generation: one input with several outputs is legitimate
        problems.append(Problem(file, line, input_field, msg, fix))
    return problems


def find_leakage(
    train: list[Example],
    others: dict[str, list[Example]],
    input_field: str,
    fix: str = "remove the row from train (or run with --drop-invalid)",
) -> list[Problem]:
    """Train rows whose text (case-insensitive) also appears in validation or test."""
    problems = []
    for split_name, rows in others.items():
        held_out = {normalize_text(ex.text, casefold=True): ex.id for ex in rows}
        for ex in train:
            hit = held_out.get(normalize_text(ex.text, casefold=True))
            if hit is not None:
                file, line = _where(ex.id)
                problems.append(
                    Problem(
                        file,
                        line,
                        input_field,
                        f"also in the {split_name} split ({hit}): scores would be inflated",
                        fix,
                    )
                )
    return problems


def input_examples(result: ReadResult, task: TaskSpec) -> list[Example]:
    """Examples from rows that need only the input (labels optional), for `bakeoff predict`."""
    out = Checked()
    for row in result.rows:
        text = _input_text(row, task, out)
        if text is not None:
            out.examples.append(Example(f"{row.file}:{row.line}", text))
    problems = result.problems + out.problems
    if problems:
        raise ProblemsError("the input file has problems", problems)
    return out.examples
