"""Execute one run: adapt on train/validation, predict the test split, score it, save the
artifact, and return its typed record. The test split is touched only by `predict`.

A `RunJob` is plain data (config, task, rows, model name, backend options, run folder): it
pickles, so a worker process or a Ray task can run it. What may not travel — the loaded model,
progress displays — lives in the process's `Worker`. Only the driver writes the store.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakeoff.cost.clock import Timing, timed
from bakeoff.device import resolve_device
from bakeoff.evaluation.score import score_predictions
from bakeoff.experiment.plan import RunConfig
from bakeoff.experiment.record import RunRecord, Usage
from bakeoff.experiment.registry import build_strategy
from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.models.base import LanguageModel, Progress
from bakeoff.precision import machine_summary
from bakeoff.strategy import Prediction, RunContext
from bakeoff.task.data import Splits
from bakeoff.task.spec import TaskSpec

ProgressFactory = Callable[[str, int], Progress]  # (description, total) -> advance callback
TrainProgress = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class RunJob:
    """Everything one run needs, as data."""

    run: RunConfig
    task: TaskSpec
    splits: Splits  # train already cut to the run's size
    backend: BackendOptions
    run_dir: Path | None  # checkpoints and the artifact go here; None: nothing saved
    encoder_name: str = "minilm-l6"


def _no_progress(description: str, total: int) -> Progress:
    return lambda n: None


@dataclass
class Worker:
    """Per-process state: one loaded model at a time, shared caches, progress displays."""

    progress: ProgressFactory = _no_progress
    train_progress: TrainProgress | None = None
    load: Callable[[str, BackendOptions], LanguageModel] = load_model
    cache: dict[str, Any] = field(default_factory=dict)
    _model: tuple[str, LanguageModel] | None = None

    def model(self, name: str, options: BackendOptions) -> LanguageModel:
        if self._model is None or self._model[0] != name:
            self._model = None  # free the previous one first
            self._model = (name, self.load(name, options))
        return self._model[1]


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


def usage(
    preds: list[Prediction], timing: Timing, adapt_seconds: float, n_params: int, device: str
) -> Usage:
    n = max(len(preds), 1)
    prompt = sum(p.prompt_tokens for p in preds) / n
    output = sum(p.output_tokens for p in preds) / n
    seconds, method = timing.quiet_seconds()
    return Usage(
        device=device,
        rows=len(preds),
        adapt_seconds=adapt_seconds,
        predict_seconds=timing.wall_seconds,
        rows_per_second=len(preds) / seconds if seconds > 0 else 0.0,
        latency_ms_per_row=1000 * seconds / n,
        prompt_tokens_per_row=prompt,
        output_tokens_per_row=output,
        flops_per_row=2.0 * n_params * (prompt + output),
        latency_method=method,
        wall_ms_per_row=1000 * timing.wall_seconds / n,
        cpu_ms_per_row=1000 * timing.cpu_seconds / n,
        others_share=timing.others_share,
        contended=timing.contended,
    )


def runners_up_on_test(candidate: Any, job: RunJob) -> list[dict[str, Any]]:
    """The prompts a search ranked next to its choice, scored on test now that the choice is
    made (the search itself never saw test): how the validation choice held up."""
    out = []
    for name, other in getattr(candidate, "runners_up", []):
        preds = other.predict(job.splits.test)
        outputs = [p.output for p in preds]
        scored = score_predictions(job.task, job.splits.test, outputs, seed=job.run.seed)
        out.append({"prompt": name, "metrics": scored["metrics"]})
    return out


def warm_start_artifact(job: RunJob) -> Path | None:
    """The artifact of the run a warm start trains on from (a sibling run of the same folder)."""
    if job.run.warm_start is None or job.run_dir is None:
        return None
    return job.run_dir.parent / job.run.warm_start / "artifact"


def execute(job: RunJob, worker: Worker | None = None) -> RunRecord:
    """Adapt, predict the test split, score, save the artifact; return the run's record."""
    worker = worker or Worker()
    run, task, splits = job.run, job.task, job.splits
    strategy = build_strategy(run)
    lm = worker.model(run.model, job.backend) if strategy.uses_model else None
    # where this run computed: its model's device (llama.cpp and servers: this CPU), or for a
    # strategy that loads its own model (encoder-head) the device asked for
    device = getattr(lm, "device", "cpu") if lm is not None else resolve_device(job.backend.device)
    ctx = RunContext(
        seed=run.seed,
        run_dir=job.run_dir,
        encoder_name=job.encoder_name,
        cache=worker.cache,
        train_progress=worker.train_progress,
        warm_start=warm_start_artifact(job),
        device=device,
    )
    start = time.perf_counter()  # loading the model is not part of adapting
    seed_everything(run.seed)  # each run alike whatever ran before it in this process
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, ctx)  # type: ignore[arg-type]
    adapt_seconds = time.perf_counter() - start
    with timed() as timing:
        preds = candidate.predict(splits.test, worker.progress(run.label, len(splits.test)))
    scored = score_predictions(task, splits.test, [p.output for p in preds], seed=run.seed)
    runners_up = runners_up_on_test(candidate, job)
    if runners_up:
        scored["runners_up"] = runners_up
    artifact = None
    if job.run_dir is not None and is_main_process():
        artifact = job.run_dir / "artifact"
        candidate.save(artifact)
        shutil.rmtree(job.run_dir / "checkpoint", ignore_errors=True)
        shutil.rmtree(job.run_dir / "scratch", ignore_errors=True)  # RunContext.scratch_dir
    n_params = (candidate.training or {}).get("parameters") or (lm.n_parameters if lm else 0)
    metrics = scored.pop("metrics")
    return RunRecord(
        key=run.key,
        label=run.label,
        family=run.family,
        strategy=run.strategy,
        kind=run.resolved.kind,
        model=run.model,
        seed=run.seed,
        train_size=run.train_size,
        settings=run.settings,
        metrics=metrics,
        usage=usage(preds, timing, adapt_seconds, n_params, device),
        predictions=[
            {
                "id": p.id,
                "gold": ex.target,
                "output": p.output,
                "raw": p.raw,
                "probabilities": p.probabilities,
            }
            for p, ex in zip(preds, splits.test, strict=True)
        ],
        details=scored,
        training=candidate.training,
        artifact=str(artifact) if artifact else None,
        candidate=candidate.describe(),
        machine=machine_summary(
            job.backend.precision,
            run.settings.get("training", {}).get("precision", "auto"),
            device,
        ),
        data_version=run.data_version,
    )
