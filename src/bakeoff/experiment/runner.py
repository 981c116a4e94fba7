"""Run each planned candidate: adapt on train/validation, predict the test split, score it.

The test split is touched only by `predict`, for the final score.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bakeoff import __version__
from bakeoff.evaluation.registry import metrics_for
from bakeoff.evaluation.score import score_predictions
from bakeoff.experiment.plan import RunConfig
from bakeoff.experiment.registry import build_strategy
from bakeoff.experiment.results import ResultsFile
from bakeoff.models.base import LanguageModel, Progress
from bakeoff.strategy import Prediction, RunContext
from bakeoff.task.data import Splits
from bakeoff.task.spec import TaskSpec

ProgressFactory = Callable[[str, int], Progress]  # (description, total) -> advance callback


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch RNGs (torch's differs per process unless seeded)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_main_process() -> bool:
    """False in the extra processes of `torchrun` / `accelerate launch`: they train, not write."""
    return os.environ.get("RANK", "0") == "0"


def setup_fingerprint(
    task: TaskSpec, splits: Splits, model: str, seed: int, options: dict[str, Any]
) -> dict[str, Any]:
    """What must match for runs to be comparable (and for a rerun to reuse them)."""
    return {
        "task": task.name,
        "kind": task.kind,
        "model": model,
        "seed": seed,
        "data_sha256": splits.digest(),
        **options,
    }


def usage(
    preds: list[Prediction], seconds: float, adapt_seconds: float, n_params: int
) -> dict[str, Any]:
    n = max(len(preds), 1)
    prompt = sum(p.prompt_tokens for p in preds) / n
    output = sum(p.output_tokens for p in preds) / n
    import torch

    return {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "rows": len(preds),
        "adapt_seconds": adapt_seconds,
        "predict_seconds": seconds,
        "rows_per_second": len(preds) / seconds if seconds > 0 else 0.0,
        "latency_ms_per_row": 1000 * seconds / n,
        "prompt_tokens_per_row": prompt,
        "output_tokens_per_row": output,
        "flops_per_row": 2.0 * n_params * (prompt + output),
    }


def execute(
    run: RunConfig,
    task: TaskSpec,
    splits: Splits,
    model: Callable[[], LanguageModel],
    ctx: RunContext,
    progress: ProgressFactory,
) -> dict[str, Any]:
    """Adapt, predict the test split, score, save the artifact; return the run's record."""
    strategy = build_strategy(run)
    run_dir = ctx.out_dir / "runs" / run.key if ctx.out_dir else None
    ctx = replace(ctx, seed=run.seed, run_dir=run_dir)
    lm = model() if strategy.uses_model else None  # loading is not part of adapting
    start = time.perf_counter()
    seed_everything(run.seed)  # each run alike whatever ran before it in this process
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, ctx)  # type: ignore[arg-type]
    adapt_seconds = time.perf_counter() - start
    start = time.perf_counter()
    preds = candidate.predict(splits.test, progress(run.label, len(splits.test)))
    seconds = time.perf_counter() - start
    scored = score_predictions(task, splits.test, [p.output for p in preds], seed=run.seed)
    artifact = None
    if ctx.run_dir is not None and is_main_process():
        artifact = ctx.run_dir / "artifact"
        candidate.save(artifact)
        shutil.rmtree(ctx.run_dir / "checkpoint", ignore_errors=True)
    n_params = (candidate.training or {}).get("parameters") or (lm.n_parameters if lm else 0)
    return {
        "key": run.key,
        "label": run.label,
        "strategy": run.strategy,
        "config": {
            "settings": run.settings,
            "model": run.model,
            "seed": run.seed,
            "train_size": run.train_size,
            "family": run.family,
        },
        **scored,
        "usage": usage(preds, seconds, adapt_seconds, n_params),
        "training": candidate.training,
        "artifact": str(artifact) if artifact else None,
        "candidate": candidate.describe(),
        "predictions": [
            {
                "id": p.id,
                "gold": ex.target,
                "output": p.output,
                "raw": p.raw,
                "probabilities": p.probabilities,
            }
            for p, ex in zip(preds, splits.test, strict=True)
        ],
    }


def wording_spread(task: TaskSpec, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Min / mean / max of the headline metric across wordings of otherwise equal runs."""
    headline = metrics_for(task.kind, task.metrics)[0]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        settings = {k: v for k, v in run["config"]["settings"].items() if k != "wording"}
        groups[f"{run['strategy']}|{sorted(settings.items())}"].append(run)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        values = [m["metrics"][headline]["value"] for m in members]
        out.append(
            {
                "runs": [m["label"] for m in members],
                "metric": headline,
                "min": min(values),
                "mean": sum(values) / len(values),
                "max": max(values),
                "spread": max(values) - min(values),
            }
        )
    return out


def run_all(
    runs: list[RunConfig],
    task: TaskSpec,
    splits: Splits,
    model_loader: Callable[[], LanguageModel],
    out_dir: Path,
    setup: dict[str, Any],
    progress: ProgressFactory,
    on_done: Callable[[dict[str, Any], bool], None] = lambda run, skipped: None,
    context: dict[str, Any] | None = None,
) -> ResultsFile:
    """Run what is not done yet; results.json is rewritten after every run."""
    store = ResultsFile(out_dir, {**setup, "bakeoff": __version__})
    ctx = replace(RunContext(seed=setup["seed"], out_dir=out_dir), **(context or {}))
    loaded: list[LanguageModel] = []

    def model() -> LanguageModel:  # loaded once, and only if a strategy needs it
        if not loaded:
            loaded.append(model_loader())
        return loaded[0]

    for run in runs:
        if store.done(run.key):
            on_done(next(r for r in store.runs if r["key"] == run.key), True)
            continue
        result = execute(run, task, splits, model, ctx, progress)
        after = [r for r in store.runs if r["key"] != run.key] + [result]
        if is_main_process():
            spread = wording_spread(task, after)
            store.add(result, {"data": splits.summary(), "wording_spread": spread})
        on_done(result, False)
    return store
