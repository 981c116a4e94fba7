"""The race of a prompt search: successive halving within a call budget, an optional second
stage over the finalists' layout and demo-order variants, and a confirmation on validation rows
the race never saw (prompting/search.py runs it)."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.prompting.search_scorer import Scorer
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.search_space import TASK_WORDS, Base, Option
from bakeoff.task.example import Example


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _standard_error(values: list[float]) -> float:
    """Of the mean of per-row values (for right/wrong rows: sqrt(p(1-p)/n))."""
    n = len(values)
    if not n:
        return 1.0
    mean = _mean(values)
    variance = sum((v - mean) ** 2 for v in values) / n
    return math.sqrt(max(variance, 1e-9) / n)


ROUND_ONE_SHARE = 0.5  # of the race's budget, at most, for its first round


def baseline_base(options: list[Option]) -> Base | None:
    """The task's own wording and words, zero-shot, uncalibrated, in the first layout
    (search_space lists it first); None when the space has no zero-shot prompt."""
    first = options[0] if options else None
    if first is None or first.shots or first.calibrate != "none" or first.words != TASK_WORDS:
        return None
    return first.base


def fit_space(
    options: list[Option], rows: list[Example], scorer: Scorer, budget: int, seed: int
) -> list[Option]:
    """The options a race with `budget` calls can afford: all of them when the first round
    (every option on `rows`) fits in half the budget; else a seeded sample of whole prompts
    (both calibration variants of a prompt cost the same calls), the task's own wording first,
    unedited wordings before edits. Fewer than two prompts: the budget is too small."""
    limit = int(budget * ROUND_ONE_SHARE)
    if scorer.planned(options, rows) <= limit:
        return sorted(options, key=lambda o: o.complexity)
    baseline = baseline_base(options)
    bases = [b for b in dict.fromkeys(o.base for o in options) if b != baseline]
    random.Random(seed).shuffle(bases)
    edited = {o.base: o.edited for o in options}
    order = sorted(bases, key=lambda b: edited[b])
    if baseline is not None:  # the task's own wording, zero-shot, is always raced
        order.insert(0, baseline)
    kept: list[Option] = []
    for base in order:
        trial = kept + [o for o in options if o.base == base]
        if scorer.planned(trial, rows) > limit:
            break
        kept = trial
    if len({o.base for o in kept}) < 2:
        need = scorer.planned([o for o in options if o.base in order[:2]], rows) / ROUND_ONE_SHARE
        raise BakeoffError(
            f"search.max_calls {scorer.max_calls} is too small for one round: racing even two "
            f"prompts on {len(rows)} validation rows needs about {need:.0f} calls of the race's "
            f"{budget} — raise search.max_calls (`--search-calls`), or lower search.first_rows."
        )
    return sorted(kept, key=lambda o: o.complexity)


def race(
    options: list[Option],
    pool: list[Example],
    scorer: Scorer,
    s: SearchSettings,
    budget: int,
    start_rows: int | None = None,
) -> tuple[list[Option], list[dict[str, Any]]]:
    """Successive halving on growing prefixes of `pool` within `budget` calls: round 1 scores
    every option on `start_rows` (default `first_rows`) rows; each later round gets an equal
    share of what is left and spends it on more rows for the better half. The finalists and
    each round."""
    halvings = max(1, math.ceil(math.log2(max(1.0, len(options) / s.finalists))))
    alive, rounds = list(options), list[dict[str, Any]]()
    spent_before, n = scorer.calls, 0
    for index in range(halvings):
        if index == 0:
            target = min(start_rows or s.first_rows, len(pool))
            need = scorer.planned(alive, pool[:target])
            if need > budget:
                raise BakeoffError(
                    f"search.max_calls {scorer.max_calls} is too small for one round: "
                    f"{len(alive)} prompts × {target} validation rows need {need} calls — "
                    "raise search.max_calls (`--search-calls`), or narrow the space "
                    "(search.shots, search.demos, search.edits: false, search.calibrate: false)."
                )
        else:
            share = (budget - (scorer.calls - spent_before)) / (halvings - index)
            bases = len({o.base for o in alive})
            priors = scorer.planned(alive, pool[:n])  # calibration priors not yet known
            target = min(len(pool), n + max(0, int((share - priors) // bases)))
        n = max(n, target)
        rows = pool[:n]
        scores = {o: _mean(scorer.values(o, rows)) for o in alive}
        ranked = sorted(alive, key=lambda o: (-scores[o], o.complexity))
        rounds.append(
            {
                "rows": len(rows),
                "candidates": len(alive),
                "calls_so_far": scorer.calls,
                "scores": [{"prompt": o.describe(), "score": scores[o]} for o in ranked],
            }
        )
        alive = ranked[: max(s.finalists, math.ceil(len(alive) / 2))]
        if len(alive) <= s.finalists:
            break
    return alive[: s.finalists], rounds


STAGE_ONE_SHARE = 0.75  # of the race budget, when a refinement stage follows


def refinement_field(
    finalists: list[Option], space: list[Option], first_format: str
) -> list[Option]:
    """The finalists and their variants in the refining axes (another layout, another order
    of the same demos)."""
    kept = set(finalists)
    variants = [
        o
        for o in space
        if (o.format != first_format or o.order)
        and replace(o, format=first_format, order=0) in kept
    ]
    return [*finalists, *variants]


def refine(
    finalists: list[Option],
    space: list[Option],
    pool: list[Example],
    scorer: Scorer,
    s: SearchSettings,
    budget: int,
) -> tuple[list[Option], list[dict[str, Any]], int]:
    """Stage 2: the finalists against their layout and demo-order variants, on more rows
    than stage 1 began with. The finalists, its rounds, and how many variants it raced."""
    field = refinement_field(finalists, space, space[0].format)
    if len(field) == len(finalists) or budget <= 0:
        return finalists, [], 0
    bases = len({o.base for o in field})
    rows = min(len(pool), max(s.first_rows, budget // (2 * bases)))
    while rows > s.first_rows and scorer.planned(field, pool[:rows]) > budget // 2:
        rows //= 2
    if scorer.planned(field, pool[:rows]) > budget:
        return finalists, [], 0  # no room: stage 1's finalists stand
    chosen, rounds = race(field, pool, scorer, s, budget, start_rows=rows)
    return chosen, [{**r, "stage": 2} for r in rounds], len(field) - len(finalists)


def confirm(
    finalists: list[Option], rows: list[Example], scorer: Scorer
) -> tuple[Option, dict[str, Any]]:
    """The best finalist on rows the race never saw; the simplest within one standard error."""
    if not rows or scorer.planned(finalists, rows) > scorer.remaining:
        why = "no validation rows left" if not rows else "the budget ran out"
        return finalists[0], {"skipped": f"no confirmation: {why}; the race leader is kept"}
    values = {o: scorer.values(o, rows) for o in finalists}
    scores = {o: _mean(values[o]) for o in finalists}
    best = max(finalists, key=lambda o: (scores[o], [-x for x in o.complexity]))
    margin = _standard_error(values[best])
    close = [o for o in finalists if scores[o] >= scores[best] - margin]
    chosen = min(close, key=lambda o: o.complexity)
    reason = (
        "best on the confirmation rows"
        if chosen == best
        else f"simplest within one standard error ({margin:.3f}) of the best ({best.describe()})"
    )
    return chosen, {
        "rows": len(rows),
        "scores": [{"prompt": o.describe(), "score": scores[o]} for o in finalists],
        "reason": reason,
    }
