"""Prompt search: the prompt engineer's trial and error, done on the validation split.

The space (search_space.py): instructions (the task's wordings, the built-in ones, edits of
them that need no other model, and optionally a proposer model's), label words (optionally
mined from the model's next-token distribution, label_words.py), layouts, the number of demos
(0 included), how they are chosen and their order, and calibration. Calibration, and label
words where no demo shows them, only change how the same forward pass is read, so they share
its model calls (search_scorer.py).

The race (search_race.py): successive halving, every candidate of a round scored on the same
validation rows, a (prompt, row) pair never scored twice; then the finalists on validation rows
the race never saw, the simplest within one standard error of the best kept. `max_calls` is
fixed before the search and never exceeded; every paid score is journalled, so an interrupted
search resumes without repeating a call. The test split is never passed here (Strategy.adapt
receives train and validation only). Generation tasks are ranked by their headline metric.
"""

from __future__ import annotations

import random
import time
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
from bakeoff.prompting.search_race import (
    STAGE_ONE_SHARE,
    baseline_base,
    confirm,
    fit_space,
    race,
    refine,
)
from bakeoff.prompting.search_scorer import Journal, Scorer, row_metric_name
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.search_space import Option, instructions, search_space
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

JOURNAL = "search-journal.jsonl"  # in the run's scratch folder, removed when the run ends


def own_option(task: TaskSpec) -> Option:
    """The task's own wording, zero-shot, plain: what mining and the proposer start from."""
    text, origin = instructions(task, edits=False)[0]
    return Option(text, origin)


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
    sets = fixed_sets(task)
    if not s.label_words:
        return sets[:1], {}
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
        prompts = scorer.candidate(own_option(task)).prompts
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

    leader = own_option(task)
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
            task, proposer, leader.instruction, errors, s.proposer_calls, scorer.ctx.seed
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
