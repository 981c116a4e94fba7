"""Prompt search: the prompt engineer's trial and error, done on the validation split.

The space: instructions (the task's wordings, the built-in ones, and edits of them that need no
other model — a sentence deleted, the label list added, no instruction at all), the number of
demos (0 included), how they are chosen, and contextual calibration. Calibration only changes
how the same forward pass is read, so both variants of a prompt share its model calls.

The race (successive halving): every candidate of a round is scored on the same validation
rows, the better half goes on to twice the rows; a (prompt, row) pair is never scored twice.
The finalists are then scored on a part of validation the race never saw; the best there wins,
unless a simpler finalist is within one standard error of it (the lead is not significant).
`max_calls` (model scoring requests) is fixed before the search and never exceeded. The test
split is never passed here (Strategy.adapt receives train and validation only).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.models.base import LanguageModel
from bakeoff.prompting.decode import CONTENT_FREE_INPUTS
from bakeoff.prompting.label_words import (
    MINE_TOP_K,
    WordSet,
    fixed_sets,
    mine,
    mining_rows,
)
from bakeoff.prompting.search_scorer import Journal, Scorer, row_metric_name
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.search_space import TASK_WORDS, Base, Option, instructions, search_space
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

JOURNAL = "search-journal.jsonl"  # in the run's scratch folder, removed when the run ends


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


def layouts(model: LanguageModel, s: SearchSettings) -> list[str]:
    """The layouts to try: chat and inline need the model's chat template."""
    usable: list[str] = [f for f in s.formats if f == "plain" or model.has_chat_template]
    return usable or ["plain"]


def label_word_sets(
    task: TaskSpec,
    model: LanguageModel,
    train: list[Example],
    scorer: Scorer,
    s: SearchSettings,
) -> tuple[list[WordSet], dict[str, Any]]:
    """The label words to try, and what mining them cost: the task's words and the label
    names; words mined from the model's next-token distribution on training rows (after the
    task's own zero-shot prompt) when the model shows it and a tenth of the budget pays."""
    sets = fixed_sets(task) if s.label_words else fixed_sets(task)[:1]
    if not s.label_words:
        return sets, {}
    rows = mining_rows(train, task.label_names)
    next_tokens = getattr(model, "next_tokens", None)
    if next_tokens is None:
        return sets, {"mined": "not tried: this backend does not show next-token probabilities"}
    if len(rows) > s.max_calls // 10:
        return sets, {"mined": f"not tried: {len(rows)} calls exceed a tenth of the budget"}
    scorer.calls += len(rows)
    if scorer.journal.mined is not None and len(scorer.journal.mined) == len(rows):
        distributions = scorer.journal.mined
        scorer.resumed_calls += len(rows)
    else:
        own_text, _ = instructions(task, edits=False)[0]
        prompts = scorer.candidate(Option(own_text, "task wording 0")).prompts
        distributions = next_tokens(prompts([r.text for r in rows]), MINE_TOP_K)
        scorer.journal.mined = distributions
        scorer.journal.add([{"mined": distributions}])
    found = mine(task, rows, distributions)
    if found is None:
        return sets, {
            "mined": f"none: no distinct word stood out for every label ({len(rows)} rows)"
        }
    duplicate = any(found.words == other.words for other in sets)
    return (sets if duplicate else [*sets, found]), {
        "mined": found.describe(),
        "mining_calls": len(rows),
    }


PROPOSER_ERROR_ROWS = 16  # training rows the leader is scored on to show the proposer its errors


def proposals(
    task: TaskSpec, model: LanguageModel, train: list[Example], scorer: Scorer, s: SearchSettings
) -> tuple[list[str], dict[str, Any]]:
    """Instructions from the proposer model (search.proposer), and what it cost; none when no
    proposer is set. A proposer that fails stops the search with what to change, unless
    search.proposer_optional lets the search go on without it."""
    if not s.proposer:
        return [], {}
    from bakeoff.models.backends import BackendOptions, load_model
    from bakeoff.prompting.proposer import propose

    own_text, own_origin = instructions(task, edits=False)[0]
    leader = Option(own_text, own_origin)
    rows = train[:PROPOSER_ERROR_ROWS]
    errors: list[Example] = []
    if scorer.planned([leader], rows) <= s.max_calls // 10:  # the errors cost task-model calls
        scored = scorer.values(leader, rows)
        errors = [ex for ex, value in zip(rows, scored, strict=True) if value < 0.5][:4]
    if scorer.journal.proposed is not None:  # resumed: what it wrote (or why it failed) before
        texts, calls, failed = scorer.journal.proposed
        if failed:
            return [], {"proposer": failed}
        return texts, {"proposer_calls": calls, "proposed": len(texts)}
    why = ""
    try:
        proposer = load_model(s.proposer, BackendOptions(max_retries=1, timeout_s=120))
        texts, replies = propose(
            task, proposer, own_text, errors, s.proposer_calls, scorer.ctx.seed
        )
        if not texts:
            shown = "; ".join(repr(r[:80]) for r in replies[:2])
            why = f"returned no usable instruction in {len(replies)} calls (it wrote {shown})"
    except (BakeoffError, OSError) as exc:
        why = f"failed: {exc}"
    if why:
        if not s.proposer_optional:
            raise BakeoffError(
                f"search.proposer '{s.proposer}' {why} — fix or replace the proposer, remove "
                "search.proposer, or set search.proposer_optional: true to search without it."
            )
        note = f"not used: {why}"
        scorer.journal.proposed = ([], s.proposer_calls, note)
        scorer.journal.add([{"proposed": [], "proposer_calls": s.proposer_calls, "failed": note}])
        return [], {"proposer": note}
    scorer.journal.proposed = (texts, s.proposer_calls, "")
    scorer.journal.add([{"proposed": texts, "proposer_calls": s.proposer_calls}])
    return texts, {"proposer_calls": s.proposer_calls, "proposed": len(texts)}


def search(
    task: TaskSpec,
    model: LanguageModel,
    train: list[Example],
    validation: list[Example],
    ctx: RunContext,
    base: PromptSettings,
    s: SearchSettings,
) -> PromptCandidate:
    """Search the space on validation; the winning prompt, with the search in its notes.
    Generation tasks search instructions, layouts and demos, ranked by the task's headline
    metric on generated outputs (label words, calibration and stratified demos are for labels)."""
    if task.kind == "generation":
        demos = [d for d in s.demos if d != "stratified"] or ["random"]
        s = s.model_copy(update={"calibrate": False, "label_words": False, "demos": demos})
    start = time.perf_counter()
    rows = list(validation)
    random.Random(ctx.seed).shuffle(rows)
    # the confirmation takes at most a quarter of the budget; the race gets the rest
    keep = min(s.confirm_rows, len(rows) // 2, s.max_calls // (4 * s.finalists))
    pool, held = rows[: len(rows) - keep], rows[len(rows) - keep :]
    journal = Journal(ctx.scratch_dir / JOURNAL if ctx.scratch_dir else None)
    own = fixed_sets(task)[0]
    scorer = Scorer(task, model, train, ctx, base, s.max_calls, {own.name: own}, journal)
    scorer.validation_ids = {r.id for r in rows}  # the mean calibration fits on these only
    word_sets, words_note = label_word_sets(task, model, train, scorer, s)
    scorer.word_sets = {w.name: w for w in word_sets}
    proposed, proposer_note = proposals(task, model, train, scorer, s)
    space = search_space(task, s, len(train), layouts(model, s), word_sets, proposed)
    if not space:
        raise BakeoffError(
            f"search.shots {s.shots}: every number of demos exceeds the {len(train)} training "
            "rows and 0 is not among them — add 0 to search.shots or use more training rows."
        )
    reserve = s.finalists * (keep + len(CONTENT_FREE_INPUTS))
    budget = s.max_calls - reserve - scorer.calls
    # stage 1 races the core (first layout, demos as chosen); stage 2 refines its finalists
    core = [o for o in space if o.format == space[0].format and not o.order]
    stage_one = int(budget * STAGE_ONE_SHARE) if len(core) < len(space) else budget
    options = fit_space(core, pool[: s.first_rows], scorer, stage_one, ctx.seed)
    spent = scorer.calls
    finalists, rounds = race(options, pool, scorer, s, stage_one)
    left = budget - (scorer.calls - spent)
    finalists, refined, variants = refine(finalists, space, pool, scorer, s, left)
    rounds += refined
    chosen, confirmation = confirm(finalists, held, scorer)
    candidate = scorer.build(chosen)
    # the other finalists, for the record: scored on test only after the choice is made
    candidate.runners_up = [(o.describe(), scorer.build(o)) for o in finalists if o != chosen]
    own_base = baseline_base(space)
    baseline = next((o.describe() for o in space if o.base == own_base), None)
    first = {row["prompt"]: row["score"] for row in rounds[0]["scores"]}
    candidate.notes["search"] = {
        "chosen": chosen.describe(),
        # what the race ranks by: right/wrong per row for labels, the headline for generation
        "metric": "accuracy" if task.kind == "classification" else row_metric_name(task),
        "label_words": scorer.word_sets[chosen.words].describe(),
        "space": len(space),
        "raced": len(options) + variants,  # a sample of the space when the budget is short
        "refined": variants,  # stage 2: layout and demo-order variants of the finalists
        "max_calls": s.max_calls,
        "calls": scorer.calls,
        "cache_hits": scorer.cache_hits,
        "resumed_calls": scorer.resumed_calls,
        "seconds": time.perf_counter() - start,
        "validation_rows": {"race": len(pool), "confirmation": len(held)},
        "word_sets": [w.name for w in word_sets],
        **words_note,
        **proposer_note,
        "rounds": rounds,
        "confirmation": confirmation,
        # the task's own wording and words, zero-shot (None when search.shots lacks 0)
        "baseline": {"prompt": baseline, "first_round_score": first.get(baseline or "")},
    }
    return candidate
