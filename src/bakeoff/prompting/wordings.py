"""Built-in instruction wordings, so a run shows how much the wording alone moves the score.

Wordings are sandboxed Jinja templates; the user's own (task `prompt.instructions`) come first.
"""

from __future__ import annotations

from bakeoff.task.spec import TaskSpec
from bakeoff.templating import render_template

CLASSIFICATION = [
    "Classify the text into one of these categories: {{ labels }}.",
    "What is the correct label for the following text? Answer with one of: {{ labels }}.",
    "Read the text and decide which category fits it best. Possible answers: {{ labels }}.",
]
GENERATION = [
    "{{ description or 'Write the output for the given input.' }} Answer briefly.",
    "Read the input and reply with the expected output only.",
    "You are a precise assistant. {{ description or 'Respond to the input.' }}",
]


def wordings(task: TaskSpec) -> list[str]:
    """All instruction templates for the task: the user's first, then the built-ins."""
    builtin = CLASSIFICATION if task.kind == "classification" else GENERATION
    return [*task.prompt.instructions, *builtin]


def render_instruction(task: TaskSpec, index: int) -> str:
    """Wording `index` filled in with the task's labels (and their descriptions)."""
    return with_label_descriptions(task, render_wording(task, index))


def render_wording(task: TaskSpec, index: int) -> str:
    """Wording `index` filled in with the task's labels, without the description list."""
    options = wordings(task)
    if not 0 <= index < len(options):
        raise IndexError(f"wording {index} does not exist; this task has {len(options)}")
    return render_template(options[index], task.instruction_variables()).strip()


def with_label_descriptions(task: TaskSpec, text: str) -> str:
    """`text`, then one line per label that has a description."""
    described = [label for label in task.labels or [] if label.description]
    if described:
        text += "\n" + "\n".join(f"- {label.words}: {label.description}" for label in described)
    return text
