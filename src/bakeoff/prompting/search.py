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

import json
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.models.base import LanguageModel
from bakeoff.prompting.decode import CONTENT_FREE_INPUTS, calibrated
from bakeoff.prompting.search_settings import SearchSettings
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings, build_candidate
from bakeoff.prompting.wordings import render_wording, with_label_descriptions, wordings
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


@dataclass(frozen=True)
class Option:
    """One point of the search space."""

    instruction: str
    origin: str  # where the instruction came from, for the trace
    shots: int = 0
    demos: str = "random"
    calibrate: bool = False

    @property
    def base(self) -> tuple[str, int, str]:
        """What the model's forward passes depend on (calibration is read off them)."""
        return (self.instruction, self.shots, self.demos if self.shots else "-")

    @property
    def complexity(self) -> tuple[int, bool, int]:
        """Simpler first: fewer demos, no calibration, a shorter instruction."""
        return (self.shots, self.calibrate, len(self.instruction))

    def describe(self) -> str:
        demos = f"{self.demos}×{self.shots}" if self.shots else "no demos"
        calibration = ", calibrated" if self.calibrate else ""
        return f"{self.origin}; {demos}{calibration}"


JOURNAL = "search-journal.jsonl"  # in the run's checkpoint folder, removed when the run ends
STRATEGY = "prompt-search"  # the registered name: its loader rebuilds the saved prompt


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


def instructions(task: TaskSpec, edits: bool) -> list[tuple[str, str]]:
    """(text, origin) of every instruction to try, the task's own first, without repeats."""
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


def search_space(task: TaskSpec, s: SearchSettings, train_rows: int) -> list[Option]:
    options = []
    for text, origin in instructions(task, s.edits):
        for shots in s.shots:
            if shots > train_rows:
                continue
            for demos in s.demos if shots else ["random"]:
                for calibrate in (False, True) if s.calibrate else (False,):
                    options.append(Option(text, origin, shots, demos, calibrate))
    return sorted(options, key=lambda o: o.complexity)


Base = tuple[str, int, str]  # Option.base: instruction, shots, demo method


class Journal:
    """Every score the search has paid for, appended as it arrives (JSON lines in the run's
    checkpoint folder): a search killed midway resumes without repeating a call, and the
    budget counts what was spent before the interruption. A torn last line is ignored."""

    def __init__(self, path: Path | None):
        self.path = path

    def load(self) -> tuple[dict[tuple[Base, str], list[float]], dict[Base, list[float]]]:
        probs: dict[tuple[Base, str], list[float]] = {}
        priors: dict[Base, list[float]] = {}
        if self.path is None or not self.path.exists():
            return probs, priors
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                base = (str(entry["b"][0]), int(entry["b"][1]), str(entry["b"][2]))
                if "prior" in entry:
                    priors[base] = [float(v) for v in entry["prior"]]
                else:
                    probs[(base, str(entry["r"]))] = [float(v) for v in entry["p"]]
            except (ValueError, KeyError, TypeError, IndexError):
                continue  # the line a kill cut short
        return probs, priors

    def add(self, base: Base, entries: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps({"b": list(base), **entry}, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


@dataclass
class Scorer:
    """Scores options on validation rows, each (prompt, row) pair once, within the budget."""

    task: TaskSpec
    model: LanguageModel
    train: list[Example]
    ctx: RunContext
    base_settings: PromptSettings
    max_calls: int
    journal: Journal = field(default_factory=lambda: Journal(None))
    calls: int = 0
    cache_hits: int = 0
    resumed_calls: int = 0  # paid for before an interruption, read back from the journal
    _candidates: dict[Base, PromptCandidate] = field(default_factory=dict)
    _probs: dict[tuple[Base, str], list[float]] = field(default_factory=dict)
    _priors: dict[Base, list[float]] = field(default_factory=dict)
    # what this search has used so far; a journal entry counts (as a call) when first used,
    # so a resumed search plans and spends exactly as an uninterrupted one
    _used: set[tuple[Base, str]] = field(default_factory=set)
    _used_priors: set[Base] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._probs, self._priors = self.journal.load()

    @property
    def remaining(self) -> int:
        return self.max_calls - self.calls

    def settings(self, option: Option) -> PromptSettings:
        update = {"shots": option.shots, "demos": option.demos, "calibrate": option.calibrate}
        return self.base_settings.model_copy(update=update)

    def candidate(self, option: Option) -> PromptCandidate:
        if option.base not in self._candidates:
            plain = self.settings(option).model_copy(update={"calibrate": False})
            self._candidates[option.base] = build_candidate(
                self.task, self.model, plain, option.instruction, self.train, self.ctx, STRATEGY
            )
        return self._candidates[option.base]

    def planned(self, options: list[Option], rows: list[Example]) -> int:
        """Calls scoring `options` on `rows` would make now."""
        bases = {o.base for o in options}
        missing = sum(1 for b in bases for r in rows if (b, r.id) not in self._used)
        fresh = {o.base for o in options if o.calibrate} - self._used_priors
        return missing + len(fresh) * len(CONTENT_FREE_INPUTS)

    def correct(self, option: Option, rows: list[Example]) -> list[int]:
        candidate = self.candidate(option)
        new = [r for r in rows if (option.base, r.id) not in self._used]
        self.cache_hits += len(rows) - len(new)
        self.calls += len(new)
        self._used.update((option.base, r.id) for r in new)
        missing = [r for r in new if (option.base, r.id) not in self._probs]
        self.resumed_calls += len(new) - len(missing)
        names = self.task.label_names
        if missing:
            entries = []
            for ex, pred in zip(missing, candidate.predict(missing), strict=True):
                probs = [(pred.probabilities or {})[n] for n in names]
                self._probs[(option.base, ex.id)] = probs
                entries.append({"r": ex.id, "p": probs})
            self.journal.add(option.base, entries)
        prior = None
        if option.calibrate:
            if option.base not in self._used_priors:
                self._used_priors.add(option.base)
                self.calls += len(CONTENT_FREE_INPUTS)
                if option.base in self._priors:
                    self.resumed_calls += len(CONTENT_FREE_INPUTS)
                else:
                    self._priors[option.base] = candidate.label_prior()
                    self.journal.add(option.base, [{"prior": self._priors[option.base]}])
            prior = self._priors[option.base]
        out = []
        for ex in rows:
            probs = self._probs[(option.base, ex.id)]
            if prior is not None:
                probs = calibrated(probs, prior)
            out.append(int(names[max(range(len(names)), key=lambda i: probs[i])] == ex.label))
        return out


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _standard_error(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-9) / n) if n else 1.0


def race(
    options: list[Option], pool: list[Example], scorer: Scorer, s: SearchSettings, budget: int
) -> tuple[list[Option], list[dict[str, Any]]]:
    """Successive halving on growing prefixes of `pool` within `budget` calls: round 1 scores
    every option on `first_rows` rows; each later round gets an equal share of what is left
    and spends it on more rows for the better half. The finalists and each round."""
    halvings = max(1, math.ceil(math.log2(max(1.0, len(options) / s.finalists))))
    alive, rounds = list(options), list[dict[str, Any]]()
    spent_before, n = scorer.calls, 0
    for index in range(halvings):
        if index == 0:
            target = min(s.first_rows, len(pool))
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
        scores = {o: _mean(scorer.correct(o, rows)) for o in alive}
        ranked = sorted(alive, key=lambda o: (-scores[o], o.complexity))
        rounds.append(
            {
                "rows": len(rows),
                "candidates": len(alive),
                "calls_so_far": scorer.calls,
                "scores": [{"prompt": o.describe(), "accuracy": scores[o]} for o in ranked],
            }
        )
        alive = ranked[: max(s.finalists, math.ceil(len(alive) / 2))]
        if len(alive) <= s.finalists:
            break
    return alive[: s.finalists], rounds


def confirm(
    finalists: list[Option], rows: list[Example], scorer: Scorer
) -> tuple[Option, dict[str, Any]]:
    """The best finalist on rows the race never saw; the simplest within one standard error."""
    if not rows or scorer.planned(finalists, rows) > scorer.remaining:
        why = "no validation rows left" if not rows else "the budget ran out"
        return finalists[0], {"skipped": f"no confirmation: {why}; the race leader is kept"}
    scores = {o: _mean(scorer.correct(o, rows)) for o in finalists}
    best = max(finalists, key=lambda o: (scores[o], [-x for x in o.complexity]))
    margin = _standard_error(scores[best], len(rows))
    close = [o for o in finalists if scores[o] >= scores[best] - margin]
    chosen = min(close, key=lambda o: o.complexity)
    reason = (
        "best on the confirmation rows"
        if chosen == best
        else f"simplest within one standard error ({margin:.3f}) of the best ({best.describe()})"
    )
    return chosen, {
        "rows": len(rows),
        "scores": [{"prompt": o.describe(), "accuracy": scores[o]} for o in finalists],
        "reason": reason,
    }


def search(
    task: TaskSpec,
    model: LanguageModel,
    train: list[Example],
    validation: list[Example],
    ctx: RunContext,
    base: PromptSettings,
    s: SearchSettings,
) -> PromptCandidate:
    """Search the space on validation; the winning prompt, with the search in its notes."""
    if task.kind != "classification":
        raise BakeoffError(
            f"{task.where}: prompt-search ranks prompts by accuracy and supports classification "
            "tasks for now — use zero-shot or few-shot for this generation task."
        )
    start = time.perf_counter()
    rows = list(validation)
    random.Random(ctx.seed).shuffle(rows)
    # the confirmation takes at most a quarter of the budget; the race gets the rest
    keep = min(s.confirm_rows, len(rows) // 2, s.max_calls // (4 * s.finalists))
    pool, held = rows[: len(rows) - keep], rows[len(rows) - keep :]
    options = search_space(task, s, len(train))
    journal = Journal(ctx.run_dir / "checkpoint" / JOURNAL if ctx.run_dir else None)
    scorer = Scorer(task, model, train, ctx, base, s.max_calls, journal)
    reserve = s.finalists * (keep + len(CONTENT_FREE_INPUTS))
    finalists, rounds = race(options, pool, scorer, s, s.max_calls - reserve)
    chosen, confirmation = confirm(finalists, held, scorer)
    candidate = build_candidate(
        task, model, scorer.settings(chosen), chosen.instruction, train, ctx, STRATEGY
    )
    # the other finalists, for the record: scored on test only after the choice is made
    candidate.runners_up = [
        (
            o.describe(),
            build_candidate(task, model, scorer.settings(o), o.instruction, train, ctx, STRATEGY),
        )
        for o in finalists
        if o != chosen
    ]
    own_text, own_origin = instructions(task, edits=False)[0]
    baseline = Option(own_text, own_origin).describe()  # the task's own wording, zero-shot
    first = {row["prompt"]: row["accuracy"] for row in rounds[0]["scores"]}
    candidate.notes["search"] = {
        "chosen": chosen.describe(),
        "space": len(options),
        "max_calls": s.max_calls,
        "calls": scorer.calls,
        "cache_hits": scorer.cache_hits,
        "resumed_calls": scorer.resumed_calls,
        "seconds": time.perf_counter() - start,
        "validation_rows": {"race": len(pool), "confirmation": len(held)},
        "rounds": rounds,
        "confirmation": confirmation,
        "baseline": {"prompt": baseline, "first_round_accuracy": first.get(baseline)},
    }
    return candidate
