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

from bakeoff.evaluation.registry import metrics_for
from bakeoff.experiment.plan import PROMPT_STRATEGIES
from bakeoff.task.spec import TaskSpec

Run = dict[str, Any]


def headline(task: TaskSpec) -> str:
    return metrics_for(task.kind, task.metrics)[0]


def is_trained(strategy: str) -> bool:
    return strategy not in PROMPT_STRATEGIES


def candidates(task: TaskSpec, runs: list[Run]) -> list[dict[str, Any]]:
    """One entry per (family, train size), best mean first."""
    metric = headline(task)
    groups: dict[tuple[str, int | None], list[Run]] = defaultdict(list)
    for run in runs:
        config = run["config"]
        groups[(config["family"], config.get("train_size"))].append(run)
    out = []
    for (family, size), members in groups.items():
        values = [m["metrics"][metric]["value"] for m in members]
        primary = min(
            members, key=lambda m: (m["config"]["seed"], m["config"]["settings"]["wording"])
        )
        strategy = primary["strategy"]
        name = family if size is None else f"{family} n={size}"
        out.append(
            {
                "name": name,
                "family": family,
                "strategy": strategy,
                "trained": is_trained(strategy),
                "train_size": size,
                "labels_used": size or 0,
                "runs": [m["key"] for m in members],
                "n_runs": len(members),
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values),
                "max": max(values),
                "primary": primary["key"],
                "ci_low": primary["metrics"][metric]["ci_low"],
                "ci_high": primary["metrics"][metric]["ci_high"],
                "seeds": sorted({m["config"]["seed"] for m in members}),
                "wordings": sorted({m["config"]["settings"]["wording"] for m in members}),
            }
        )
    return sorted(out, key=lambda c: -c["mean"])


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


def wording_variance(task: TaskSpec, runs: list[Run]) -> list[dict[str, Any]]:
    """Per prompt family and train size: the headline metric of each wording (seed-averaged)."""
    metric = headline(task)
    groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        config = run["config"]
        size = config.get("train_size")
        name = config["family"] if size is None else f"{config['family']} n={size}"
        groups[name][config["settings"]["wording"]].append(run["metrics"][metric]["value"])
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
