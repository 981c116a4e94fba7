"""A long label list leaves a trained model's prompt: the model learns the labels from the rows.

A zero-shot instruction lists every label ("… one of: a, b, c"). For a prompted model that list
is the task; for a model trained on labelled rows it is mostly cost — Banking77's 77 intents are
~400 tokens of every training row and of every prediction, 10× the message itself. The answer is
still scored over every label, so nothing is lost but the hint. `label_list: auto` (the default)
leaves the list out once a task has more than LONG_LABEL_LIST labels; `keep` and `drop` decide.
"""

from __future__ import annotations

from typing import Literal

from bakeoff.task.spec import TaskSpec

LabelList = Literal["auto", "keep", "drop"]
LONG_LABEL_LIST = 20  # labels; above this `auto` drops the list (TREC's 6 stay, Banking77's 77 go)


def drops_label_list(setting: LabelList, task: TaskSpec) -> bool:
    """Whether a trained run's paired prompt goes without its instruction's label list."""
    if task.kind != "classification" or setting == "keep":
        return False
    return setting == "drop" or len(task.label_names) > LONG_LABEL_LIST


def lists_labels(instruction: str, task: TaskSpec) -> bool:
    """Whether `instruction` holds the label list (a wording of yours may not)."""
    words = [label.words for label in task.labels or []]
    return ", ".join(words) in instruction or all(w in instruction for w in words)


def short_instruction(task: TaskSpec) -> str:
    """The instruction without the labels: the task's description and what to answer."""
    prefix = task.prompt.output_prefix.strip().lower()
    ask = "Answer with its category." if prefix == "answer" else f"Answer with the {prefix}."
    return f"{task.description.strip()} {ask}" if task.description else ask


def label_list_reason(
    setting: LabelList, task: TaskSpec, instruction: str | None = None
) -> str | None:
    """Why the list was left out, for `--explain` and the run record; None when it stays
    (`instruction`: the paired prompt's, when known — one without the list is kept)."""
    if not drops_label_list(setting, task):
        return None
    if instruction is not None and not lists_labels(instruction, task):
        return None
    n = len(task.label_names)
    why = "label_list: drop" if setting == "drop" else f"more than {LONG_LABEL_LIST} labels"
    return (
        f"the instruction leaves out its list of {n} labels ({why}): the model learns them from "
        f'the rows; it reads "{short_instruction(task)}"'
    )
