"""Everything the report shows, as one JSON-able dict built from the run store.

bakeoff report runs/sst2      # report.json, report.md, report.html in runs/sst2
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bakeoff.advisor import Evidence, advise
from bakeoff.analysis.compare import (
    candidates,
    crossover,
    headline,
    learning_curves,
    wording_variance,
)
from bakeoff.analysis.models import model_dependence
from bakeoff.config import settings_error
from bakeoff.cost.clock import CONTENDED_SHARE
from bakeoff.cost.tco import break_even, run_costs, tco
from bakeoff.errors import BakeoffError
from bakeoff.evaluation.paired import compare_pair
from bakeoff.evaluation.score import headline_statistic
from bakeoff.experiment.grid import fingerprint_matches
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.spec import ExperimentSpec
from bakeoff.experiment.store import RunStore
from bakeoff.finetuning.schedule import describe_schedule, describe_stopping
from bakeoff.pricing import Constraints
from bakeoff.task.data import load_splits
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec, load_task

Run = RunRecord


def load_context(
    store: RunStore, constraints: dict[str, Any] | None = None
) -> tuple[ExperimentSpec, TaskSpec, list[Example]]:
    """The experiment (with any constraint overrides), task and test rows of the store's runs."""
    raw = store.experiment()
    setup = store.meta("setup")
    if setup is None:
        raise BakeoffError(f"{store.path}: not an experiment store (no setup recorded).")
    if constraints:
        raw = {**raw, "constraints": {**raw.get("constraints", {}), **constraints}}
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        raise settings_error(exc, "constraints", "bakeoff advise --help", flags=True) from None
    task = load_task(spec.task_path)
    splits = load_splits(task, limit_test=spec.test_size)
    if not fingerprint_matches(task, splits, setup["data_sha256"]):
        raise BakeoffError(
            f"{spec.task_path}: the task or its data changed since these runs were scored — "
            "restore them, or rerun the experiment into a new --out folder."
        )
    return spec, task, splits.test


def _mean_costs(runs: list[Run], spec: ExperimentSpec) -> dict[str, float]:
    costs = [run_costs(r.usage, r.training, spec.prices) for r in runs]
    return {k: statistics.fmean(c[k] for c in costs) for k in costs[0]}


class Comparer:
    """Paired tests between candidates' primary runs, computed once per pair."""

    def __init__(self, task: TaskSpec, test: list[Example], runs: dict[str, Run]):
        self.task, self.test, self.runs = task, test, runs
        self.cache: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats: dict[str, Any] = {}

    def _stat(self, key: str) -> Any:
        if key not in self.stats:
            outputs = [p["output"] for p in self.runs[key].predictions]
            self.stats[key] = headline_statistic(self.task, self.test, outputs)
        return self.stats[key]

    def __call__(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        pair = (a["primary"], b["primary"])
        if pair not in self.cache:
            (sa, ca), (sb, cb) = self._stat(pair[0]), self._stat(pair[1])
            result = compare_pair(sa, sb, len(self.test), ca, cb)
            p = result.mcnemar_p if result.mcnemar_p is not None else result.p_value
            self.cache[pair] = {
                "a": a["name"],
                "b": b["name"],
                **result.as_dict(),
                "p": p,
                "test": "McNemar" if result.mcnemar_p is not None else "paired bootstrap",
                "significant": p < 0.05,
            }
        return self.cache[pair]


def pareto_front(ranked: list[dict[str, Any]]) -> list[str]:
    """Candidates no other beats on both quality and per-request cost."""
    front = []
    for c in ranked:
        dominated = any(
            o["mean"] >= c["mean"]
            and o["cost"]["per_request_usd"] <= c["cost"]["per_request_usd"]
            and (o["mean"], -o["cost"]["per_request_usd"])
            != (c["mean"], -c["cost"]["per_request_usd"])
            for o in ranked
        )
        if not dominated:
            front.append(c["name"])
    return front


def volume_curves(
    ranked: list[dict[str, Any]], constraints: Constraints, champion: str | None
) -> dict[str, Any]:
    """TCO against requests/month for the best candidate of each family (plus the champion)."""
    best_per_family: dict[str, dict[str, Any]] = {}
    for c in ranked:
        best_per_family.setdefault(c["family"], c)
    shown = list(best_per_family.values())[:6]
    if champion and all(c["name"] != champion for c in shown):
        shown += [c for c in ranked if c["name"] == champion]
    volumes = [10**e for e in range(1, 10)]
    lines = [
        {"name": c["name"], "tco": [tco(c["cost"], constraints, v) for v in volumes]} for c in shown
    ]
    crossings = []
    for a in shown:
        for b in shown:
            if a is b or a["cost"]["one_off_usd"] <= b["cost"]["one_off_usd"]:
                continue
            point = break_even(a["cost"], b["cost"], constraints)
            if point is not None:
                crossings.append({"a": a["name"], "b": b["name"], "per_month": point})
    return {"volumes": volumes, "lines": lines, "break_even": crossings}


def build_report(store: RunStore, constraints: dict[str, Any] | None = None) -> dict[str, Any]:
    spec, task, test = load_context(store, constraints)
    runs = store.runs()
    by_key = {r.key: r for r in runs}
    test_ids = [ex.id for ex in test]
    for run in runs:
        if [p["id"] for p in run.predictions] != test_ids:
            raise BakeoffError(f"{store.path}: run {run.label} was scored on other test rows.")
    metric = headline(task)
    ranked = candidates(task, runs)
    for c in ranked:
        c["cost"] = _mean_costs([by_key[k] for k in c["runs"]], spec)
    sizes = sorted({r.train_size for r in runs if r.train_size})
    compare = Comparer(task, test, by_key)
    wording = wording_variance(task, runs)
    evidence = Evidence(
        metric,
        ranked,
        compare,
        spec.constraints,
        len(test),
        sizes,
        wording,
        majority_baseline(test) if metric == "accuracy" else None,
        dependence := model_dependence(ranked, compare),
    )
    recommendation = advise(evidence)
    paired = [compare(ranked[0], c) for c in ranked[1:6]] if ranked else []
    champion = next((c for c in ranked if c["name"] == recommendation.choice), None)
    champion_run = by_key[champion["primary"]] if champion else None
    return {
        "experiment": spec.name,
        "task": {"name": task.name, "kind": task.kind, "file": str(spec.task_path)},
        "metric": metric,
        "test_rows": len(test),
        "models": spec.models,
        "constraints": spec.constraints.model_dump(),
        "prices": spec.prices.model_dump(),
        "runs": [_run_summary(r, metric) for r in runs],
        "candidates": ranked,
        "pareto": pareto_front(ranked),
        "paired": paired,
        "learning_curves": learning_curves(ranked, sizes),
        "crossover": crossover(ranked, sizes),
        "cost_method": cost_method(runs),
        "machine": machine_line(runs),
        "wording": wording,
        "volume": volume_curves(ranked, spec.constraints, recommendation.choice),
        "confusion": _confusions(ranked, by_key) if task.kind == "classification" else [],
        "training_curves": _training_curves(ranked, by_key),
        "history": history(store),
        "failed": still_failing(store),
        "model_dependence": dependence,
        "searches": _searches(ranked, by_key, metric),
        "recommendation": recommendation.as_dict(),
        "champion": _promoted_champion(store, recommendation.choice)
        or _champion(champion, champion_run),
    }


def still_failing(store: RunStore) -> list[dict[str, Any]]:
    """Runs with a failed attempt and no record (Ray executor), with their last error: not
    in the figures, tried again by the next `bakeoff run`."""
    last = {f["key"]: f for f in store.failures() if not f["recovered"]}
    return list(last.values())


def majority_baseline(test: list[Example]) -> float | None:
    """The accuracy of always answering the test rows' most common label."""
    counts = Counter(ex.label for ex in test if ex.label is not None)
    return max(counts.values()) / len(test) if counts and test else None


def machine_line(runs: list[Run]) -> str:
    """Where the runs ran and in which precision, and why (the first run that says so)."""
    machine = next((r.machine for r in runs if r.machine), None)
    if machine is None:
        return "not recorded (runs from an older bakeoff)"
    precision = machine["precision"]
    threads = machine["threads"]["torch_threads"]
    return (
        f"{machine['cpu']}, {machine['cores']} usable cores, {threads} torch threads, torch "
        f"{machine['torch']}; inference {precision['inference']['precision']} "
        f"({precision['inference']['why']}), training {precision['training']['precision']} "
        f"({precision['training']['why']})"
    )


def cost_method(runs: list[Run]) -> dict[str, Any]:
    """How latency (and so money per request) was measured, and which runs the machine's load
    may have touched."""
    contended = [r.label for r in runs if r.usage.contended]
    summary = (
        "Latency is the wall-clock time of predicting the test split, per row, while the machine "
        f"was quiet; where other processes took over {CONTENDED_SHARE:.0%} of the machine's CPU "
        "meanwhile (read from /proc/stat), it is this process's CPU time spread over its compute "
        "threads instead, which load barely moves. Money per request = latency × the hourly "
        "price + tokens × token prices."
    )
    if contended:
        summary += f" Measured under contention (estimated): {', '.join(contended)}."
    return {"summary": summary, "contended": contended}


def _run_summary(run: Run, metric: str) -> dict[str, Any]:
    return {
        "key": run.key,
        "label": run.label,
        "strategy": run.strategy,
        "kind": run.kind,
        "model": run.model,
        "seed": run.seed,
        "train_size": run.train_size,
        "wording": run.wording,
        "metrics": run.metrics,
        "usage": asdict(run.usage),
        "training": {
            k: v
            for k, v in (run.training or {}).items()
            if k
            in (
                "train_seconds",
                "tokens_per_second",
                "flops",
                "best_step",
                "stopped_early",
                "stopped_by_budget",
                "peak_rss_mb",
                "train_validation_gap",
                "warnings",
                "flags",
                "schedule",
                "precision",
                "precision_why",
                "device",
                "peak_gpu_mb",
            )
        },
        "machine": run.machine,
        "headline": run.value(metric),
    }


def _confusions(ranked: list[dict[str, Any]], runs: dict[str, Run]) -> list[dict[str, Any]]:
    """The best candidate of each strategy: its primary run's confusion matrix."""
    seen: dict[str, dict[str, Any]] = {}
    for c in ranked:
        which = f"{c['strategy']} {c['model']}"
        if which not in seen:
            seen[which] = {"candidate": c["name"], **runs[c["primary"]].details["confusion"]}
    return list(seen.values())


def _training_curves(ranked: list[dict[str, Any]], runs: dict[str, Run]) -> list[dict[str, Any]]:
    out = []
    for c in ranked:
        training = runs[c["primary"]].training or {}
        if training.get("history"):
            out.append(
                {
                    "candidate": c["name"],
                    "history": training["history"],
                    "best_step": training.get("best_step"),
                    "gap": training.get("train_validation_gap"),
                    "warnings": training.get("warnings", []),
                    "flags": training.get("flags", []),
                    "schedule": describe_schedule(training),
                    "stopping": describe_stopping(training),
                }
            )
    return out


def _searches(
    ranked: list[dict[str, Any]], runs: dict[str, Run], metric: str
) -> list[dict[str, Any]]:
    """Each prompt search: the leader's validation score after each round against the calls
    spent, the confirmation, and the chosen prompt's test score (computed after the search)."""
    out = []
    for c in ranked:
        run = runs[c["primary"]]
        trace = run.candidate.get("search")
        if not trace:
            continue
        out.append(
            {
                "candidate": c["name"],
                "chosen": trace["chosen"],
                "instruction": run.candidate.get("instruction", ""),
                "calls": trace["calls"],
                "max_calls": trace["max_calls"],
                "seconds": trace["seconds"],
                "space": trace["space"],
                "label_words": trace.get("label_words", ""),
                "metric": trace.get("metric", "accuracy"),
                "space_line": _space_line(trace["space"], trace.get("raced", trace["space"])),
                "rounds": [
                    {
                        "rows": r["rows"],
                        "candidates": r["candidates"],
                        "calls": r["calls_so_far"],
                        "leader": r["scores"][0]["prompt"],
                        "score": r["scores"][0].get("score", r["scores"][0].get("accuracy")),
                    }
                    for r in trace["rounds"]
                ],
                "confirmation": trace["confirmation"],
                "test": run.value(metric),
                "runners_up": [
                    {"prompt": r["prompt"], "test": r["metrics"][metric]["value"]}
                    for r in run.details.get("runners_up", [])
                ],
            }
        )
    return out


def _champion(champion: dict[str, Any] | None, run: Run | None) -> dict[str, Any] | None:
    if champion is None or run is None:
        return None
    return {
        "name": champion["name"],
        "run": run.key,
        "model": champion["model"],
        "artifact": run.artifact,
        "describe": run.candidate,
    }


def _promoted_champion(store: RunStore, recommended: str | None) -> dict[str, Any] | None:
    """After `bakeoff update` promoted a challenger, that run is the champion (and what
    `bakeoff serve` serves); the ranking above stays the experiment's own."""
    promotion = store.last_promotion()
    if promotion is None:
        return None
    decision, run = promotion
    section = _champion({"name": decision["decision"]["promoted"], "model": run.model}, run)
    return {**(section or {}), "promoted_at": decision["version"], "recommended": recommended}


def report_paths(folder: Path) -> dict[str, Path]:
    return {ext: folder / f"report.{ext}" for ext in ("json", "md", "html")}


def _space_line(space: int, raced: int) -> str:
    if raced >= space:
        return f"all {space} prompts of the space raced"
    return f"{raced} of the space's {space} prompts raced (a seeded sample: the budget)"


def history(store: RunStore) -> list[dict[str, Any]]:
    """Each `bakeoff update`: its data version, drift verdict, the champion on old and new test
    rows, each challenger's result and cost, and who held the title after it."""
    decisions = {p["version"]: p for p in store.promotions()}
    out = []
    for version in store.versions():
        decided = decisions.get(version["number"], {})
        decision = decided.get("decision") or {}
        recheck = version["recheck"]
        out.append(
            {
                "version": version["number"],
                "rows": f"{version['train_rows']} train + {version['test_rows']} test"
                + (
                    f"; new labels: {', '.join(version['labels_added'])}"
                    if version.get("labels_added")
                    else ""
                ),
                "drift": version["drift"]["verdict"],
                "champion": recheck["champion"],
                "old": recheck["old"]["value"],
                "new": recheck["new"]["value"],
                "challengers": [
                    {
                        "name": c["challenger"],
                        "new_difference": c["new_difference"],
                        "passes": c["passes"],
                        "promoted": c["challenger"] == decision.get("promoted"),
                        "adapt_seconds": decided.get("adapt_seconds", {}).get(c["key"]),
                    }
                    for c in decision.get("challenges", [])
                ],
                "holder": decision.get("promoted") or recheck["champion"],
                "reasons": decision.get("reasons", ["dry run only"]),
            }
        )
    return out
