"""The promotion rule: a challenger replaces the champion only when it is significantly better
on the new test rows (paired test, Holm-corrected over the challengers) and not worse than the
champion on the old test rows by more than a margin (non-inferiority: the lower end of the
paired 95% CI of the difference above −margin). Among those that pass, the largest gain on the
new rows wins; otherwise the champion is kept. Every comparison and reason is written down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bakeoff.evaluation.paired import compare_pair
from bakeoff.evaluation.score import headline_statistic
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

ALPHA = 0.05


@dataclass
class Scored:
    """One candidate's outputs on the old and the new test rows (the same rows for all)."""

    name: str
    key: str
    old: list[str | None]
    new: list[str | None]


@dataclass
class Challenge:
    challenger: str
    key: str
    new_difference: float  # challenger − champion on the new test rows
    new_ci: tuple[float, float]
    p: float  # McNemar (classification) or paired bootstrap, two-sided
    holm_significant: bool = False
    old_difference: float = 0.0
    old_ci: tuple[float, float] = (0.0, 0.0)
    non_inferior: bool = False
    passes: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class Decision:
    champion: str  # before the update
    promoted: str | None  # the challenger that took the title, or None: kept
    promoted_key: str | None
    margin: float
    challenges: list[Challenge]
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def holm(p_values: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down correction: which hypotheses are rejected at family-wise `alpha`."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def _paired(
    task: TaskSpec, rows: list[Example], a: list[str | None], b: list[str | None]
) -> tuple[float, float, float, float]:
    """(difference a − b, CI low, CI high, p) on the same rows."""
    stat_a, correct_a = headline_statistic(task, rows, a)
    stat_b, correct_b = headline_statistic(task, rows, b)
    result = compare_pair(stat_a, stat_b, len(rows), correct_a, correct_b)
    accuracy = task.metric_names[0] == "accuracy"  # what McNemar tests
    p = result.mcnemar_p if accuracy and result.mcnemar_p is not None else result.p_value
    return result.difference, result.ci_low, result.ci_high, p


def decide(
    task: TaskSpec,
    old_rows: list[Example],
    new_rows: list[Example],
    champion: Scored,
    challengers: list[Scored],
    margin: float,
) -> Decision:
    challenges = []
    for ch in challengers:
        diff, low, high, p = _paired(task, new_rows, ch.new, champion.new)
        old_diff, old_low, old_high, _ = _paired(task, old_rows, ch.old, champion.old)
        challenges.append(
            Challenge(ch.name, ch.key, diff, (low, high), p, False, old_diff, (old_low, old_high))
        )
    significant = holm([c.p for c in challenges]) if challenges else []
    for c, sig in zip(challenges, significant, strict=True):
        c.holm_significant = sig and c.new_difference > 0
        c.non_inferior = c.old_ci[0] > -margin
        c.passes = c.holm_significant and c.non_inferior
        c.reasons.append(
            f"new rows: {_pts(c.new_difference)} (95% CI {_num(c.new_ci[0])} to "
            f"{_num(c.new_ci[1])}, p = {c.p:.3f}; "
            f"{'significant' if c.holm_significant else 'not significant'} after Holm over "
            f"{len(challenges)})"
        )
        c.reasons.append(
            f"old rows: {_pts(c.old_difference)} (95% CI {_num(c.old_ci[0])} to "
            f"{_num(c.old_ci[1])}; {'within' if c.non_inferior else 'beyond'} the "
            f"{100 * margin:.1f}-point non-inferiority margin)"
        )
    passing = [c for c in challenges if c.passes]
    if passing:
        best = max(passing, key=lambda c: c.new_difference)
        reasons = [
            f"{best.challenger} replaces {champion.name}: significantly better on the new rows "
            f"and not worse on the old ones beyond the margin"
        ]
        return Decision(champion.name, best.challenger, best.key, margin, challenges, reasons)
    reasons = [
        f"{champion.name} stays champion: no challenger is significantly better on the new rows "
        "while holding on the old ones"
        if challenges
        else f"{champion.name} stays champion: no challenger was adapted"
    ]
    return Decision(champion.name, None, None, margin, challenges, reasons)


def _num(value: float) -> str:
    return f"{100 * value:+.1f}"


def _pts(value: float) -> str:
    return f"{_num(value)} points"
