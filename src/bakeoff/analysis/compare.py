"""From finished runs to comparable candidates: spread over seeds and wordings, paired tests
between the leaders, learning curves over the number of labels, and the crossover point.

A *candidate* is one strategy family (its settings, minus wording and seed) at one train size.
Its quality is the mean over its runs (seeds × wordings) — choosing the best wording by its test
score would flatter it. Paired tests (report/build.py) use each candidate's *primary* run: the
first seed and the first wording the experiment lists, fixed before looking at test scores.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from bakeoff.experiment.record import RunRecord
from bakeoff.strategy_registry import resolve
from bakeoff.task.spec import TaskSpec


def headline(task: TaskSpec) -> str:
    return task.metric_names[0]


def short_model(name: str) -> str:
    """A model's name as candidates show it: the last part of a path or backend name."""
    return name.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".gguf")


def _brings_own_model(run: RunRecord) -> bool:
    return resolve(run.strategy).main.own_model is not None


def _is_hybrid(run: RunRecord) -> bool:
    """Trained with a prompt that uses labelled demos (e.g. lora+few-shot)."""
    resolved = resolve(run.strategy)
    return resolved.kind == "trained" and resolved.uses_demos


def several_models(runs: list[RunRecord]) -> bool:
    """Whether the runs used more than one of the experiment's models."""
    return len({r.model for r in runs if not _brings_own_model(r)}) > 1


def family_name(run: RunRecord, several: bool) -> str:
    """A family is a strategy's settings on one model; the model is named when there are several."""
    if several and not _brings_own_model(run):
        return f"{run.family} @{short_model(run.model)}"
    return run.family


def candidates(task: TaskSpec, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """One entry per (model, family, train size), best mean first."""
    metric = headline(task)
    several = several_models(runs)
    groups: dict[tuple[str, str, int | None], list[RunRecord]] = defaultdict(list)
    for run in runs:
        groups[(run.model, run.family, run.train_size)].append(run)
    out = []
    for (model, _, size), members in groups.items():
        values = [m.value(metric) for m in members]
        primary = min(members, key=lambda m: (m.seed, m.wording))
        family = family_name(primary, several)
        name = family if size is None else f"{family} n={size}"
        out.append(
            {
                "name": name,
                "family": family,
                "recipe": primary.family,  # the family whatever the model (analysis/models.py)
                "own_model": _brings_own_model(primary),
                "model": model,
                "strategy": primary.strategy,
                "kind": primary.kind,
                "trained": primary.trained,
                "hybrid": _is_hybrid(primary),
                "searched": "search" in primary.candidate,  # its prompt chosen by a search
                "train_size": size,
                "labels_used": size or 0,
                "runs": [m.key for m in members],
                "n_runs": len(members),
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values),
                "max": max(values),
                "primary": primary.key,
                "ci_low": primary.metrics[metric]["ci_low"],
                "ci_high": primary.metrics[metric]["ci_high"],
                "seeds": sorted({m.seed for m in members}),
                "wordings": sorted({m.wording for m in members}),
                # training flags of any member run (collapsed, diverging, overfitting, no-gain, …)
                "flags": sorted({f for m in members for f in (m.training or {}).get("flags", [])}),
            }
        )
    # ties: fewer labels first, then by name — never the order the runs finished in
    return sorted(out, key=lambda c: (-c["mean"], c["labels_used"], c["name"]))


def learning_curves(ranked: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Quality against labelled examples per family; zero-shot is a flat line at 0 labels."""
    curves: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in ranked:
        curves[c["family"]].append(
            {"labels": c["labels_used"], "mean": c["mean"], "std": c["std"], "n_runs": c["n_runs"]}
        )
    families = {c["family"]: c for c in ranked}
    lines = [
        {
            "family": family,
            "trained": families[family]["trained"],
            "points": sorted(points, key=lambda p: p["labels"]),
        }
        for family, points in curves.items()
    ]
    return {"sizes": sizes, "lines": lines}


def crossover(ranked: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """The smallest train size from which the best fine-tuned candidate beats the best prompt."""
    rows = []
    for size in sizes:
        prompt = [c["mean"] for c in ranked if not c["trained"] and c["train_size"] in (None, size)]
        tuned = [c["mean"] for c in ranked if c["trained"] and c["train_size"] == size]
        if prompt and tuned:
            rows.append({"labels": size, "prompting": max(prompt), "fine_tuning": max(tuned)})
    if not rows:
        return {"at": None, "table": rows, "summary": "needs both prompting and fine-tuning runs"}
    ahead = [r["fine_tuning"] > r["prompting"] for r in rows]
    at = next((r["labels"] for i, r in enumerate(rows) if all(ahead[i:])), None)
    if at is None:
        summary = f"prompting leads at every measured size (up to {rows[-1]['labels']} labels)"
    elif at == rows[0]["labels"]:
        summary = f"fine-tuning leads at every measured size (from {at} labels)"
    else:
        summary = f"fine-tuning overtakes prompting at {at} labels"
    return {"at": at, "table": rows, "summary": summary}


def wording_variance(task: TaskSpec, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Per prompt family and train size: the headline metric of each wording (seed-averaged)."""
    metric = headline(task)
    several = several_models(runs)
    groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        family = family_name(run, several)
        name = family if run.train_size is None else f"{family} n={run.train_size}"
        groups[name][run.wording].append(run.value(metric))
    out = []
    for name, by_wording in groups.items():
        if len(by_wording) < 2:
            continue
        means = {w: statistics.fmean(v) for w, v in sorted(by_wording.items())}
        out.append(
            {
                "candidate": name,
                "by_wording": means,
                "spread": max(means.values()) - min(means.values()),
            }
        )
    return sorted(out, key=lambda g: -g["spread"])
