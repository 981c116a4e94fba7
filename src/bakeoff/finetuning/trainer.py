"""The one training loop every fine-tuning strategy shares.

Seeded; length-grouped batches with dynamic padding; gradient accumulation; bf16 autocast where
the hardware has it; the task metric on validation every `eval_every` steps; early stopping
with best-weight restore; an atomic checkpoint at every evaluation, so a killed run resumes
where it stopped. Runs under Hugging Face Accelerate: `accelerate launch` scales it out.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import torch

from bakeoff.device import module_device, to_device
from bakeoff.evaluation.score import headline_value
from bakeoff.finetuning.batching import length_grouped_batches
from bakeoff.finetuning.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.memory import release_free_memory
from bakeoff.finetuning.schedule import Schedule, fit_to_budget, plan_schedule
from bakeoff.finetuning.step_speed import FastSteps, chosen_kernels, reuse_kernels
from bakeoff.precision import DTYPES, choose

if TYPE_CHECKING:
    from bakeoff.strategy import Prediction, RunContext
    from bakeoff.task.example import Example
    from bakeoff.task.spec import TaskSpec


class Evaluation(NamedTuple):
    metric: float  # the task's headline metric
    outputs: list[str | None]  # what the model predicted, row by row (None: unparsed)
    gold_classes: int = 0  # distinct reference labels among the rows (0: not classification)


class TrainJob(Protocol):
    """What a strategy hands the loop: a module, its rows, and how to batch/score them."""

    module: torch.nn.Module
    lengths: list[int]  # tokens per train row, for length grouping and token counts
    classes: int  # labels of a classification task; 0 for generation
    validation_rows: int

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]: ...

    def loss(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def evaluate(self, split: str, rows: int) -> Evaluation:
        """The task metric and the outputs on up to `rows` rows of "validation" or "train"."""
        ...

    def param_groups(self, lr: float) -> list[dict[str, Any]]: ...

    def trainable_state(self) -> dict[str, torch.Tensor]: ...

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None: ...


@dataclass
class TrainReport:
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    best_step: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    stopped_by_budget: bool = False  # hit TrainConfig.max_minutes
    train_seconds: float = 0.0  # optimisation only, evaluation excluded
    eval_seconds: float = 0.0
    tokens: int = 0  # tokens processed by forward + backward
    precision: str = "fp32"
    precision_why: str = ""  # the user, the GPU, or the measurement (precision.py)
    processes: int = 1  # data-parallel processes (torchrun / accelerate launch)
    resumed_from_step: int | None = None
    warnings: list[str] = field(default_factory=list)
    # collapsed, diverging, overfitting, no-gain, flat-validation
    flags: list[str] = field(default_factory=list)
    schedule: dict[str, Any] = field(default_factory=dict)  # Schedule.as_dict(): what and why
    stopping: dict[str, Any] = field(default_factory=dict)  # how noisy the stopping signal was
    attention: dict[str, int] = field(default_factory=dict)  # batches per kernel (step_speed.py)
    device: str = "cpu"
    peak_gpu_mb: float | None = None  # the most GPU memory the run's tensors held

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds else 0.0

    @property
    def train_validation_gap(self) -> float | None:
        best = next((h for h in self.history if h["step"] == self.best_step), None)
        return None if best is None else best["train_metric"] - best["val_metric"]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["tokens_per_second"] = self.tokens_per_second
        out["train_validation_gap"] = self.train_validation_gap
        return out


def evaluate_rows(
    task: TaskSpec, examples: list[Example], predict: Callable[[list[Example]], list[Prediction]]
) -> Evaluation:
    """A job's evaluation: its candidate's predictions on `examples`, scored by the task metric."""
    outputs = [p.output for p in predict(examples)]
    gold = len({ex.label for ex in examples}) if task.kind == "classification" else 0
    return Evaluation(headline_value(task, examples, outputs), outputs, gold)


def _lr_factor(schedule: Schedule) -> Callable[[int], float]:
    """Linear warm-up, then linear decay to 0 at the schedule's last step (read at each step:
    a time budget may shorten the schedule during the run)."""

    def factor(step: int) -> float:
        warmup, total = schedule.warmup_steps, schedule.steps
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def overfitting_warning(history: list[dict[str, float]]) -> str | None:
    """Validation fell at the last two evaluations while the train loss kept falling."""
    if len(history) < 3:
        return None
    a, b, c = history[-3:]
    if (
        c["val_metric"] < b["val_metric"] < a["val_metric"]
        and c["train_loss"] < b["train_loss"] < a["train_loss"]
    ):
        return (
            f"step {int(c['step'])}: validation metric fell twice ({a['val_metric']:.3f} → "
            f"{c['val_metric']:.3f}) while train loss kept falling — the model is overfitting; "
            "the best checkpoint is kept."
        )
    return None


RISES_TO_WARN = 3  # evaluations in a row with a higher train loss than the one before


def divergence_warning(history: list[dict[str, float]]) -> str | None:
    """The train loss rose at each of the last few evaluations (or is no number): the learning
    rate is likely too high."""
    losses = [h["train_loss"] for h in history]
    if losses and not math.isfinite(losses[-1]):
        step = int(history[-1]["step"])
        return f"step {step}: train loss is {losses[-1]} — training diverged; lower --lr."
    recent = losses[-(RISES_TO_WARN + 1) :]
    if len(recent) == RISES_TO_WARN + 1 and all(b > a for a, b in itertools.pairwise(recent)):
        return (
            f"step {int(history[-1]['step'])}: train loss rose {RISES_TO_WARN} evaluations in a "
            f"row ({recent[0]:.3g} → {recent[-1]:.3g}) — training is diverging; lower --lr "
            "(the best checkpoint is kept)."
        )
    return None


def collapse_warning(history: list[dict[str, float]], best_step: int | None) -> str | None:
    """The kept weights predict one class for every validation row, or some evaluation did."""
    one = [h for h in history if h.get("predicted_classes") == 1]
    if not one:
        return None
    kept = next((h for h in history if h["step"] == best_step), None)
    if kept is not None and kept.get("predicted_classes") == 1:
        return (
            f"collapsed: the kept weights (step {int(kept['step'])}) predict one class for every "
            "validation row — more training rows, a lower --lr or another method"
        )
    steps = ", ".join(str(int(h["step"])) for h in one)
    return f"predicted one class for every validation row at step {steps}; step {best_step} kept"


def flat_validation_warning(history: list[dict[str, float]]) -> str | None:
    """Every evaluation (three or more) gave the same validation score: no signal to stop by."""
    values = {h["val_metric"] for h in history}
    if len(history) < 3 or len(values) > 1:
        return None
    return (
        f"the validation metric was {values.pop():g} at every evaluation: early stopping had "
        "nothing to choose by, so the last weights are kept (the tie rule would keep the "
        "starting ones) — give the task a metric that moves with quality (`metrics:`, headline "
        "first)"
    )


def stopping_noise(
    history: list[dict[str, float]], best_step: int | None, rows: int
) -> dict[str, Any]:
    """How far the chosen step's validation score stands above the next best, against its
    standard error (binomial, as for accuracy): a lead below one s.e. is noise."""
    if not history or best_step is None:
        return {}
    best = next(h["val_metric"] for h in history if h["step"] == best_step)
    others = [h["val_metric"] for h in history if h["step"] != best_step]
    p = min(max(best, 0.0), 1.0)
    se = math.sqrt(p * (1 - p) / max(rows, 1))
    lead = best - max(others) if others else None
    return {
        "validation_rows": rows,
        "standard_error": se,
        "lead_over_next": lead,
        "noisy": lead is not None and lead <= se,
    }


def _flag(report: TrainReport, name: str, warning: str | None) -> None:
    if warning and warning not in report.warnings:
        report.warnings.append(warning)
        if name and name not in report.flags:
            report.flags.append(name)


BUDGET_PROBE_STEPS = 5  # steps timed (2 to 6: the first pays warm-up) before fitting a budget


def train(
    job: TrainJob,
    cfg: TrainConfig,
    *,
    seed: int,
    defaults: Mapping[str, Any] | None = None,
    checkpoint_dir: Path | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainReport:
    """Train `job` on the schedule chosen for its data (`defaults`: the method's lr and
    epochs; `cfg`: the user's settings, which win)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import set_seed

    device = module_device(job.module)
    chosen = choose(cfg.precision, "training", str(device))
    compute_dtype = DTYPES[chosen.precision]
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # Accelerate trains on the current GPU
    # Accelerate keeps its settings process-wide; each run may choose its own precision.
    # The process group (PartialState) is kept, so `accelerate launch` runs stay distributed.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    accelerator = Accelerator(
        # fp16 scales the loss (Accelerate's GradScaler: backward, clipping and step unscale)
        mixed_precision="no" if chosen.precision == "fp32" else chosen.precision,
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=device.type == "cpu",  # also lets torchrun start gloo processes on CPUs
    )
    set_seed(seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    n_batches = math.ceil(len(job.lengths) / cfg.batch_size)
    per_rank = n_batches // world if world > 1 else n_batches  # every rank: as many batches
    saved = load_checkpoint(checkpoint_dir) if checkpoint_dir else None
    if saved is not None and "schedule" in saved["loop"]:  # resume on the schedule it began
        planned = dict(saved["loop"]["schedule"])
        planned.pop("epochs", None)
        schedule = Schedule(**planned)
    else:
        schedule = plan_schedule(
            cfg,
            defaults or {},
            rows=len(job.lengths),
            classes=job.classes,
            validation_rows=job.validation_rows,
            world=world,
        )

    steps = FastSteps(job.module)  # what the steps below skip, found once
    optimizer = torch.optim.AdamW(job.param_groups(schedule.lr), weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(schedule))
    module, optimizer = accelerator.prepare(job.module, optimizer)

    report = TrainReport(
        precision=chosen.precision, precision_why=chosen.why, processes=world, device=str(device)
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    loop: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "batch": 0,
        "bad_evals": 0,
        "loss_sum": 0.0,
        "loss_n": 0,
        "report": {},
    }
    best: dict[str, torch.Tensor] | None = None
    if saved is not None:
        job.load_trainable_state(saved["weights"])
        optimizer.load_state_dict(saved["optim"]["optimizer"])
        scheduler.load_state_dict(saved["optim"]["scheduler"])
        set_rng_state(saved["optim"]["rng"])
        loop, best = saved["loop"], saved["best"]
        reuse_kernels(loop.get("kernels", {}))
        for key, value in loop["report"].items():
            setattr(report, key, value)
        report.resumed_from_step = loop["step"]
    fitted = saved is not None and loop.get("fitted", False)  # already cut to the time budget
    first_step_seconds = 0.0

    def evaluate_and_save() -> None:
        nonlocal best
        start = time.perf_counter()
        module.eval()
        val, outputs, gold_classes = job.evaluate("validation", schedule.eval_rows)
        predicted = {o for o in outputs if o is not None}  # unparsed output is no class
        train_metric = job.evaluate("train", min(schedule.eval_rows, 64)).metric
        module.train()
        report.eval_seconds += time.perf_counter() - start
        train_loss = loop["loss_sum"] / max(loop["loss_n"], 1)
        loop["loss_sum"], loop["loss_n"] = 0.0, 0
        report.history.append(
            {
                "step": loop["step"],
                "epoch": loop["epoch"],
                "train_loss": train_loss,
                "val_metric": val,
                "train_metric": train_metric,
                # a collapse shows only where the rows hold two classes or more
                **({"predicted_classes": len(predicted)} if gold_classes >= 2 else {}),
            }
        )
        if report.best_metric is None or val > report.best_metric:  # a tie keeps the earlier
            report.best_metric, report.best_step = val, loop["step"]
            best = {k: v.detach().clone().cpu() for k, v in job.trainable_state().items()}
            loop["bad_evals"] = 0
        else:
            loop["bad_evals"] += 1
        _flag(report, "overfitting", overfitting_warning(report.history))
        _flag(report, "diverging", divergence_warning(report.history))
        if not math.isfinite(train_loss):
            report.stopped_early = True  # nothing more to learn from NaN weights
        if loop["bad_evals"] >= cfg.patience and loop["step"] >= schedule.min_steps:
            report.stopped_early = True
        if progress:
            progress(0, report.history[-1])
        if checkpoint_dir is not None and accelerator.is_main_process:
            loop["schedule"], loop["fitted"] = schedule.as_dict(), fitted
            loop["kernels"] = chosen_kernels()  # a resumed run keeps the kernels it timed
            loop["report"] = {k: v for k, v in report.__dict__.items() if k != "resumed_from_step"}
            save_checkpoint(
                checkpoint_dir,
                job.trainable_state(),
                best,
                loop,
                {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
            )

    if saved is None and cfg.eval_at_start:  # the starting weights: training must beat them
        module.eval()
        with torch.no_grad(), accelerator.autocast():
            first = length_grouped_batches(job.lengths, cfg.batch_size, seed)[0]
            batch = to_device(job.collate(first), accelerator.device)
            loop["loss_sum"], loop["loss_n"] = float(job.loss(module, batch)), 1
        evaluate_and_save()
    module.train()
    while loop["step"] < schedule.steps and not report.stopped_early:
        epoch_batches = length_grouped_batches(job.lengths, cfg.batch_size, seed + loop["epoch"])
        # rank r takes batches r, r+world, …; all ranks take the same count (DDP needs it)
        batches = epoch_batches[: per_rank * world][rank::world]
        for index in range(loop["batch"], len(batches)):
            start = time.perf_counter()
            batch = to_device(job.collate(batches[index]), accelerator.device)
            with accelerator.accumulate(module):
                with steps.forward(batch.get("input_ids"), compute_dtype) as kernel:
                    loss = job.loss(module, batch)
                report.attention[kernel] = report.attention.get(kernel, 0) + 1
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            report.tokens += int(batch["attention_mask"].sum()) * world
            loop["loss_sum"] += float(loss.detach())
            loop["loss_n"] += 1
            loop["batch"] = index + 1
            report.train_seconds += time.perf_counter() - start
            if not accelerator.sync_gradients:
                continue
            loop["step"] += 1
            report.steps = loop["step"]
            if device.type == "cpu":  # a GPU's activations are not on the host heap
                release_free_memory()  # keeps resident memory from creeping up step after step
            if progress:
                progress(
                    1, {"loss": float(loss.detach()), "tokens_per_second": report.tokens_per_second}
                )
            limit = cfg.max_minutes
            if loop["step"] == 1:
                first_step_seconds = report.train_seconds  # warm-up costs: not a typical step
            if limit is not None and not fitted and loop["step"] > BUDGET_PROBE_STEPS:
                timed = (report.train_seconds - first_step_seconds) / (loop["step"] - 1)
                # every process must cut to the same step (DDP waits for the missing ones)
                per_step = float(
                    accelerator.reduce(torch.tensor(timed, device=accelerator.device), "mean")
                )
                fitted = True
                fit_to_budget(schedule, per_step, limit, loop["step"], cfg.eval_every is not None)
            over_budget = limit is not None and report.train_seconds > 60 * limit
            if over_budget:
                report.stopped_by_budget = report.stopped_early = True
            last = loop["step"] >= schedule.steps
            if loop["step"] % schedule.eval_every == 0 or last or over_budget:
                evaluate_and_save()
            if last or report.stopped_early:
                break
        else:
            loop["epoch"] += 1
            loop["batch"] = 0

    flat = flat_validation_warning(report.history)
    if flat is not None:  # a tie everywhere would keep step 0, the untrained weights
        report.best_step = int(report.history[-1]["step"])
        best = None
        _flag(report, "flat-validation", flat)
    if best is not None and report.best_step != loop["step"]:
        job.load_trainable_state(best)
    report.schedule = schedule.as_dict()
    report.stopping = stopping_noise(report.history, report.best_step, schedule.eval_rows)
    collapse = collapse_warning(report.history, report.best_step)
    _flag(report, "collapsed" if collapse and collapse.startswith("collapsed") else "", collapse)
    if report.best_step == 0 and len(report.history) > 1:
        _flag(
            report,
            "no-gain",
            "training never beat the starting weights on validation; they are kept",
        )
    # drop the autocast wrapper: the tuned model predicts in its own dtype, as after a reload
    accelerator.unwrap_model(module, keep_fp32_wrapper=False)
    accelerator.free_memory()
    if device.type == "cuda":
        report.peak_gpu_mb = torch.cuda.max_memory_allocated(device) / 2**20
    return report


def training_summary(report: TrainReport, n_params: int, n_trainable: int) -> dict[str, Any]:
    """The run's training ledger: the loop's report plus FLOPs and memory."""
    from bakeoff.cost.ledger import peak_rss_mb, training_flops

    return {
        **report.as_dict(),
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "flops": training_flops(n_params, n_trainable, report.tokens),
        "peak_rss_mb": peak_rss_mb(),
    }


def train_for_run(
    job: TrainJob, cfg: TrainConfig, ctx: RunContext, defaults: Mapping[str, Any]
) -> TrainReport:
    """`train` with the run's seed, checkpoint folder and progress display."""
    return train(
        job,
        cfg,
        seed=ctx.seed,
        defaults=defaults,
        checkpoint_dir=ctx.run_dir / "checkpoint" if ctx.run_dir else None,
        progress=ctx.train_progress,
    )
