"""Label words to try in a prompt search: the task's own, the label names, and words mined from
the model's next-token distribution on training rows (the tokens it already prefers after the
prompt for one label's rows more than for the others' — as in LM-BFF's automatic label words).

A set of label words renders the instructions' `{{ labels }}` (through a copy of the task with
those words as verbalizers) and becomes the prompt's `label_words` setting, which the demos'
answers and the scored options use and the winning prompt's artifact keeps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

MINE_ROWS_PER_LABEL = 8
MINE_TOP_K = 20  # next tokens read per row (what OpenAI-style servers usually allow)
_WORD = re.compile(r"^[^\W\d_]{3,}$")  # letters only, three or more


@dataclass(frozen=True)
class WordSet:
    name: str  # "task words", "label names", "mined"
    words: tuple[tuple[str, str], ...]  # (label name, words) in the task's label order

    def task(self, task: TaskSpec) -> TaskSpec:
        """The task with these words as its labels' verbalizers."""
        chosen = dict(self.words)
        labels = [
            label.model_copy(update={"verbalizer": chosen[label.name]})
            for label in task.labels or []
        ]
        return task.model_copy(update={"labels": labels})

    def describe(self) -> str:
        return ", ".join(f"{name}→{words}" for name, words in self.words)


def own_words(task: TaskSpec) -> WordSet:
    return WordSet("task words", tuple((label.name, label.words) for label in task.labels or []))


def fixed_sets(task: TaskSpec) -> list[WordSet]:
    """The task's words, then the bare label names when they differ."""
    own = own_words(task)
    names = WordSet("label names", tuple((label.name, label.name) for label in task.labels or []))
    distinct = len({w.lower() for _, w in names.words}) == len(names.words)
    return [own, names] if distinct and names.words != own.words else [own]


def mining_rows(train: Sequence[Example], labels: list[str]) -> list[Example]:
    """Up to MINE_ROWS_PER_LABEL training rows of each label, in train order."""
    taken: dict[str, list[Example]] = defaultdict(list)
    for ex in train:
        if ex.label in labels and len(taken[ex.label]) < MINE_ROWS_PER_LABEL:
            taken[ex.label].append(ex)
    return [ex for label in labels for ex in taken[label]]


def mine(
    task: TaskSpec, rows: Sequence[Example], distributions: Sequence[dict[str, float]]
) -> WordSet | None:
    """One word per label from next-token distributions after each row's prompt: the word
    whose log-probability is highest on that label's rows relative to the other rows (a word
    missing from a row's top tokens counts at that row's lowest listed value, an upper bound).
    Words are distinct (ignoring case); None when a label gets no word."""
    names = [label.name for label in task.labels or []]
    floors = [min(d.values()) if d else -30.0 for d in distributions]
    vocabulary: dict[str, str] = {}  # lower-case word -> the token text first seen
    for d in distributions:
        for token in d:
            word = token.strip()
            if _WORD.match(word):
                vocabulary.setdefault(word.lower(), word)

    def value(d: dict[str, float], floor: float, word: str) -> float:
        hits = [lp for token, lp in d.items() if token.strip().lower() == word]
        return max(hits) if hits else floor

    gains: dict[str, list[tuple[float, str]]] = {}
    for name in names:
        mine_rows = [i for i, ex in enumerate(rows) if ex.label == name]
        rest = [i for i, ex in enumerate(rows) if ex.label != name]
        if not mine_rows or not rest:
            return None
        ranked = []
        for word in vocabulary:
            seen = sum(1 for i in mine_rows if value(distributions[i], -1e9, word) > -1e9)
            if 2 * seen < len(mine_rows):  # it must be among the top tokens for half its rows
                continue
            own = sum(value(distributions[i], floors[i], word) for i in mine_rows) / len(mine_rows)
            other = sum(value(distributions[i], floors[i], word) for i in rest) / len(rest)
            ranked.append((own - other, word))
        gains[name] = sorted(ranked, reverse=True)
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    # the label with the clearest word chooses first
    for name in sorted(names, key=lambda n: -(gains[n][0][0] if gains[n] else -1e9)):
        pick = next((w for g, w in gains[name] if g > 0 and w not in taken), None)
        if pick is None:
            return None
        chosen[name] = vocabulary[pick]
        taken.add(pick)
    return WordSet("mined", tuple((name, chosen[name]) for name in names))
