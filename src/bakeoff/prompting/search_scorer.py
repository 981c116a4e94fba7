"""Scoring prompts for a search: each (prompt, row) pair once, within the budget, journalled so
an interrupted search resumes without repeating a call.

One request per (prompt, row) asks for the scores of every label word that prompt could be read
with, so label words (when no demo shows them) and calibration cost no extra calls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bakeoff.evaluation import text_metrics as tm
from bakeoff.models.base import LanguageModel, ScoreRequest
from bakeoff.prompting.decode import (
    CONTENT_FREE_INPUTS,
    argmax,
    calibrated,
    mean_distribution,
    option_scores,
    softmax,
)
from bakeoff.prompting.label_words import WordSet
from bakeoff.prompting.search_space import SHARED, TASK_WORDS, Base, Option
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings, build_candidate
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

STRATEGY = "prompt-search"  # the registered name: its loader rebuilds the saved prompt
Scores = dict[str, float]  # option text -> its (normalised) log-probability


def row_metric_name(task: TaskSpec) -> str:
    return task.metric_names[0]


def row_metric(task: TaskSpec) -> Callable[[str, tuple[str, ...]], float]:
    """The task's headline generation metric for one row (BLEU: the row's own BLEU, 0–1)."""
    name = row_metric_name(task)
    if name == "bleu":
        return lambda output, refs: tm.corpus_bleu([tm.bleu_stats(output, refs)]) / 100
    functions = {"exact_match": tm.exact_match, "token_f1": tm.token_f1, "rouge_l": tm.rouge_l}
    return functions[name]


def _base(raw: list[Any]) -> Base:
    return (str(raw[0]), str(raw[1]), int(raw[2]), str(raw[3]), str(raw[4]))


class Journal:
    """Every score the search has paid for, appended as it arrives (JSON lines in the run's
    checkpoint folder): a search killed midway resumes without repeating a call, and the
    budget counts what was spent before the interruption. A torn last line is ignored."""

    def __init__(self, path: Path | None):
        self.path = path
        self.scores: dict[tuple[Base, str], Scores] = {}
        self.priors: dict[Base, list[Scores]] = {}
        self.mined: list[dict[str, float]] | None = None
        # instructions, proposer calls, why it failed ("" when it did not)
        self.proposed: tuple[list[str], int, str] | None = None
        self.outputs: dict[tuple[Base, str], str] = {}  # generation tasks: generated text
        if path is None or not path.exists():
            return
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # a kill cut the last line: end it, so the
            with path.open("a", encoding="utf-8") as handle:  # next entry stays whole
                handle.write("\n")
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                if "proposed" in entry:
                    texts = [str(t) for t in entry["proposed"]]
                    failed = str(entry.get("failed", ""))
                    self.proposed = (texts, int(entry["proposer_calls"]), failed)
                elif "mined" in entry:
                    self.mined = [{str(k): float(v) for k, v in d.items()} for d in entry["mined"]]
                elif "t" in entry:
                    self.outputs[(_base(entry["b"]), str(entry["r"]))] = str(entry["t"])
                elif "prior" in entry:
                    self.priors[_base(entry["b"])] = [
                        {str(k): float(v) for k, v in d.items()} for d in entry["prior"]
                    ]
                else:
                    scores = {str(k): float(v) for k, v in entry["s"].items()}
                    self.scores[(_base(entry["b"]), str(entry["r"]))] = scores
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                continue  # the line a kill cut short

    def record(self, base: Base, rows: list[Example], values: list[Any], kind: str) -> None:
        """Paid per-row results of one prompt: label scores (`s`) or generated text (`t`)."""
        store: dict[tuple[Base, str], Any] = self.scores if kind == "s" else self.outputs
        for ex, value in zip(rows, values, strict=True):
            store[(base, ex.id)] = value
        self.add(
            [{"b": list(base), "r": ex.id, kind: v} for ex, v in zip(rows, values, strict=True)]
        )

    def add(self, entries: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for entry in entries:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
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
    word_sets: dict[str, WordSet]
    journal: Journal = field(default_factory=lambda: Journal(None))
    calls: int = 0
    cache_hits: int = 0
    resumed_calls: int = 0  # paid for before an interruption, read back from the journal
    _candidates: dict[tuple[Base, str], PromptCandidate] = field(default_factory=dict)
    # what this search has used so far; a journal entry counts (as a call) when first used,
    # so a resumed search plans and spends exactly as an uninterrupted one
    _used: set[tuple[Base, str]] = field(default_factory=set)
    _used_priors: set[Base] = field(default_factory=set)
    validation_ids: set[str] = field(default_factory=set)  # rows the mean calibration may use

    @property
    def remaining(self) -> int:
        return self.max_calls - self.calls

    def settings(self, option: Option) -> PromptSettings:
        words = None if option.words == TASK_WORDS else dict(self.word_sets[option.words].words)
        update = {
            "shots": option.shots,
            "demos": option.demos,
            "calibrate": option.calibrate == "contextual",
            "format": option.format,
            "label_words": words,
            "demo_order": option.order,
        }
        return self.base_settings.model_copy(update=update)

    def build(self, option: Option) -> PromptCandidate:
        """The prompt `option` describes, as a candidate (its own label words; with the mean
        calibration, the prior of every validation row it was scored on)."""
        settings = self.settings(option)
        if option.calibrate == "mean":
            rows = sorted(r for b, r in self._used if b == option.base and r in self.validation_ids)
            settings = settings.model_copy(update={"prior": self._mean_prior(option, rows)})
        return build_candidate(
            self.task,
            self.model,
            settings,
            option.instruction,
            self.train,
            self.ctx,
            STRATEGY,
        )

    def candidate(self, option: Option) -> PromptCandidate:
        key = (option.base, option.words)
        if key not in self._candidates:
            self._candidates[key] = self.build(replace(option, calibrate="none"))
        return self._candidates[key]

    def _texts(self, option: Option) -> tuple[str, ...]:
        """The option texts one request for this option's prompt asks to score."""
        layout = self.candidate(option).layout
        sets = (
            self.word_sets.values() if option.base[4] == SHARED else [self.word_sets[option.words]]
        )
        return tuple(dict.fromkeys(layout.option_text(w) for s in sets for _, w in s.words))

    def planned(self, options: list[Option], rows: list[Example]) -> int:
        """Calls scoring `options` on `rows` would make now."""
        bases = {o.base for o in options}
        missing = sum(1 for b in bases for r in rows if (b, r.id) not in self._used)
        fresh = {o.base for o in options if o.calibrate == "contextual"} - self._used_priors
        return missing + len(fresh) * len(CONTENT_FREE_INPUTS)

    def _request(self, option: Option, texts: list[str]) -> list[Scores]:
        prompts = self.candidate(option).prompts(texts)
        options = self._texts(option)
        results = self.model.score([ScoreRequest(p, options) for p in prompts])
        normalize = self.base_settings.normalize
        return [dict(zip(options, option_scores(r, normalize), strict=True)) for r in results]

    def _label_texts(self, option: Option) -> list[str]:
        """The scored text of each label (in the task's order) under this option's words."""
        layout = self.candidate(option).layout
        words = dict(self.word_sets[option.words].words)
        return [layout.option_text(words[n]) for n in self.task.label_names]

    def _distributions(self, option: Option, scored: list[Scores]) -> list[list[float]]:
        texts = self._label_texts(option)
        return [softmax([scores[t] for t in texts]) for scores in scored]

    def _mean_prior(self, option: Option, row_ids: list[str]) -> list[float]:
        scored = [self.journal.scores[(option.base, r)] for r in row_ids]
        return mean_distribution(self._distributions(option, scored))

    def _prior(self, option: Option) -> list[float]:
        base = option.base
        if base not in self._used_priors:
            self._used_priors.add(base)
            self.calls += len(CONTENT_FREE_INPUTS)
            if base in self.journal.priors:
                self.resumed_calls += len(CONTENT_FREE_INPUTS)
            else:
                self.journal.priors[base] = self._request(option, list(CONTENT_FREE_INPUTS))
                self.journal.add([{"b": list(base), "prior": self.journal.priors[base]}])
        return mean_distribution(self._distributions(option, self.journal.priors[base]))

    def values(self, option: Option, rows: list[Example]) -> list[float]:
        """Each row's headline metric under `option`: 1/0 for a right/wrong label, or the
        generated output's score against the references (generation tasks)."""
        base = option.base
        new = [r for r in rows if (base, r.id) not in self._used]
        self.cache_hits += len(rows) - len(new)
        self.calls += len(new)
        self._used.update((base, r.id) for r in new)
        paid = self.journal.outputs if self.task.kind == "generation" else self.journal.scores
        missing = [r for r in new if (base, r.id) not in paid]
        self.resumed_calls += len(new) - len(missing)
        if self.task.kind == "generation":
            return self._generated(option, rows, missing)
        if missing:
            found = self._request(option, [r.text for r in missing])
            self.journal.record(base, missing, found, "s")
        return [float(c) for c in self._correct(option, rows)]

    def _generated(
        self, option: Option, rows: list[Example], missing: list[Example]
    ) -> list[float]:
        base = option.base
        if missing:
            outputs = [p.output or "" for p in self.candidate(option).predict(missing)]
            self.journal.record(base, missing, outputs, "t")
        metric = row_metric(self.task)
        return [metric(self.journal.outputs[(base, ex.id)], ex.references) for ex in rows]

    def _correct(self, option: Option, rows: list[Example]) -> list[int]:
        base = option.base
        prior = None
        if option.calibrate == "contextual":
            prior = self._prior(option)
        elif option.calibrate == "mean":  # label-free: the mean prediction over these rows
            prior = self._mean_prior(option, [r.id for r in rows])
        names = self.task.label_names
        scored = [self.journal.scores[(base, ex.id)] for ex in rows]
        out = []
        for ex, probs in zip(rows, self._distributions(option, scored), strict=True):
            if prior is not None:
                probs = calibrated(probs, prior)
            out.append(int(names[argmax(probs)] == ex.label))
        return out
