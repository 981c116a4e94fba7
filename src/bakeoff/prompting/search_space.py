"""The space a prompt search explores: instructions (the task's wordings, the built-in ones and
edits of them that need no other model), label words, layout, demos (0 included) and how they
are chosen, and contextual calibration."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bakeoff.prompting.demos import KNN_METHODS
from bakeoff.prompting.label_words import WordSet
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.wordings import render_wording, with_label_descriptions, wordings
from bakeoff.task.spec import TaskSpec

TASK_WORDS = "task words"
SHARED = "*"  # label words read off one forward pass (no demo shows them)

# what a prompt's forward passes depend on: layout, instruction, shots, demo method and order,
# and the label words when demos show them (SHARED otherwise)
Base = tuple[str, str, int, str, str]


@dataclass(frozen=True)
class Option:
    """One point of the search space."""

    instruction: str
    origin: str  # where the instruction came from, for the trace
    edited: bool = False  # an edit of a wording (or none at all) rather than a wording itself
    shots: int = 0
    demos: str = "random"
    calibrate: str = "none"  # "contextual" (content-free inputs) or "mean" (the rows' mean)
    format: str = "plain"
    words: str = TASK_WORDS  # the name of a WordSet
    order: int = 0  # 0: the demos in the order chosen; k: a seeded shuffle of them

    @property
    def base(self) -> Base:
        """What the model's forward passes depend on: calibration is read off them, and so are
        the label words unless demos show them (an instruction that names the labels differs
        in text already)."""
        demos = (f"{self.demos}/{self.order}" if self.order else self.demos) if self.shots else "-"
        words = self.words if self.shots else SHARED
        return (self.format, self.instruction, self.shots, demos, words)

    @property
    def complexity(self) -> tuple[int, bool, bool, bool, bool, int]:
        """Simpler first: fewer demos, no calibration, the task's words, plain text, a shorter
        instruction."""
        return (
            self.shots,
            self.calibrate != "none",
            self.order > 0,
            self.words != TASK_WORDS,
            self.format != "plain",
            len(self.instruction),
        )

    def describe(self) -> str:
        parts = [self.origin]
        if self.format != "plain":
            parts.append(f"{self.format} layout")
        if self.words != TASK_WORDS:
            parts.append(self.words)
        demos = f"{self.demos}×{self.shots}" if self.shots else "no demos"
        if self.order:
            demos += f", order {self.order + 1}"
        calibration = {"none": "", "contextual": ", calibrated", "mean": ", calibrated (mean)"}[
            self.calibrate
        ]
        return "; ".join([*parts, demos]) + calibration


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


def instructions(task: TaskSpec, edits: bool) -> list[tuple[str, str]]:
    """(text, origin) of every instruction to try, the task's own first, without repeats; the
    wordings come before their edits."""
    own = len(task.prompt.instructions)
    pool = [
        (render_wording(task, i), f"task wording {i}" if i < own else f"built-in wording {i}")
        for i in range(len(wordings(task)))
    ]
    if edits:
        labels = task.instruction_variables()["labels"]
        for text, origin in list(pool):
            parts = _sentences(text)
            if len(parts) > 1:
                for j in range(len(parts)):
                    kept = " ".join(p for k, p in enumerate(parts) if k != j)
                    pool.append((kept, f"{origin} without sentence {j + 1}"))
                pool.append((" ".join(parts[1:] + parts[:1]), f"{origin}, first sentence last"))
            if labels and labels not in text:
                pool.append((f"{text} Answer with one of: {labels}.", f"{origin} + label list"))
        pool.append(("", "no instruction"))
    seen: set[str] = set()
    unique = [(t, o) for t, o in pool if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    return [(with_label_descriptions(task, t).strip(), o) for t, o in unique]


def search_space(
    task: TaskSpec,
    s: SearchSettings,
    train_rows: int,
    formats: list[str],
    word_sets: list[WordSet],
    proposed: list[str] | None = None,
) -> list[Option]:
    """Every option, the task's own wording (its words, the first layout, zero-shot) first;
    `proposed` instructions (a proposer model's, used as written) after the wordings."""
    options = []
    calibrations = ["none", *s.calibrations] if s.calibrate else ["none"]
    for word_set in word_sets:
        worded = word_set.task(task)
        wordings_count = len(instructions(worded, edits=False))
        pool = instructions(worded, s.edits)
        pool[wordings_count:wordings_count] = [
            (text, f"proposal {i + 1}") for i, text in enumerate(proposed or [])
        ]
        wordings_count += len(proposed or [])
        for index, (text, origin) in enumerate(pool):
            for layout in formats:
                for shots in s.shots:
                    if shots > train_rows:
                        continue
                    for demos in s.demos if shots else ["random"]:
                        fixed = shots >= 2 and demos not in KNN_METHODS
                        orders = min(s.orders, math.factorial(shots)) if fixed else 1
                        for order in range(orders):
                            for calibrate in calibrations:
                                edited = index >= wordings_count
                                options.append(
                                    Option(
                                        text,
                                        origin,
                                        edited,
                                        shots,
                                        demos,
                                        calibrate,
                                        layout,
                                        word_set.name,
                                        order,
                                    )
                                )
    return options
