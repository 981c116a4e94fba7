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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from bakeoff.finetuning.batching import length_grouped_batches
from bakeoff.finetuning.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.memory import release_free_memory
from bakeoff.precision import choose

if TYPE_CHECKING:
    from bakeoff.strategy import RunContext


class TrainJob(Protocol):
    """What a strategy hands the loop: a module, its rows, and how to batch/score them."""

    module: torch.nn.Module
    lengths: list[int]  # tokens per train row, for length grouping and token counts

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]: ...

    def loss(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def evaluate(self, split: str, rows: int) -> float:
        """The task metric on up to `rows` rows of "validation" or "train"."""
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


def _schedule(total: int, warmup_ratio: float) -> Callable[[int], float]:
    warmup = max(1, int(total * warmup_ratio))

    def factor(step: int) -> float:
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


def train(
    job: TrainJob,
    cfg: TrainConfig,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainReport:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import set_seed

    chosen = choose(cfg.precision, "training")
    bf16 = chosen.precision == "bf16"
    # Accelerate keeps its settings process-wide; each run may choose its own precision.
    # The process group (PartialState) is kept, so `accelerate launch` runs stay distributed.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    accelerator = Accelerator(
        mixed_precision="bf16" if bf16 else "no",
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=not torch.cuda.is_available(),  # lets torchrun start gloo processes on CPUs
    )
    set_seed(seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    n_batches = math.ceil(len(job.lengths) / cfg.batch_size)
    per_rank = n_batches // world if world > 1 else n_batches  # every rank: as many batches
    steps_per_epoch = max(1, math.ceil(per_rank / cfg.grad_accum))
    total = math.ceil(cfg.epochs * steps_per_epoch)
    total = min(total, cfg.max_steps) if cfg.max_steps else total

    optimizer = torch.optim.AdamW(job.param_groups(cfg.lr), weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, cfg.warmup_ratio))
    module, optimizer = accelerator.prepare(job.module, optimizer)

    report = TrainReport(precision=chosen.precision, precision_why=chosen.why, processes=world)
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
    saved = load_checkpoint(checkpoint_dir) if checkpoint_dir else None
    if saved is not None:
        job.load_trainable_state(saved["weights"])
        optimizer.load_state_dict(saved["optim"]["optimizer"])
        scheduler.load_state_dict(saved["optim"]["scheduler"])
        set_rng_state(saved["optim"]["rng"])
        loop, best = saved["loop"], saved["best"]
        for key, value in loop["report"].items():
            setattr(report, key, value)
        report.resumed_from_step = loop["step"]

    def evaluate_and_save() -> None:
        nonlocal best
        start = time.perf_counter()
        module.eval()
        val = job.evaluate("validation", cfg.eval_rows)
        train_metric = job.evaluate("train", min(cfg.eval_rows, 64))
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
            }
        )
        if report.best_metric is None or val > report.best_metric:
            report.best_metric, report.best_step = val, loop["step"]
            best = {k: v.detach().clone().cpu() for k, v in job.trainable_state().items()}
            loop["bad_evals"] = 0
        else:
            loop["bad_evals"] += 1
        for warning in (overfitting_warning(report.history), divergence_warning(report.history)):
            if warning and warning not in report.warnings:
                report.warnings.append(warning)
        if not math.isfinite(train_loss):
            report.stopped_early = True  # nothing more to learn from NaN weights
        if loop["bad_evals"] >= cfg.patience:
            report.stopped_early = True
        if progress:
            progress(0, report.history[-1])
        if checkpoint_dir is not None and accelerator.is_main_process:
            loop["report"] = {k: v for k, v in report.__dict__.items() if k != "resumed_from_step"}
            save_checkpoint(
                checkpoint_dir,
                job.trainable_state(),
                best,
                loop,
                {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
            )

    module.train()
    while loop["step"] < total and not report.stopped_early:
        epoch_batches = length_grouped_batches(job.lengths, cfg.batch_size, seed + loop["epoch"])
        # rank r takes batches r, r+world, …; all ranks take the same count (DDP needs it)
        batches = epoch_batches[: per_rank * world][rank::world]
        for index in range(loop["batch"], len(batches)):
            start = time.perf_counter()
            batch = job.collate(batches[index])
            with accelerator.accumulate(module):
                loss = job.loss(module, batch)
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
            release_free_memory()  # keeps resident memory from creeping up step after step
            if progress:
                progress(
                    1, {"loss": float(loss.detach()), "tokens_per_second": report.tokens_per_second}
                )
            limit = cfg.max_minutes
            over_budget = limit is not None and report.train_seconds > 60 * limit
            if over_budget:
                report.stopped_by_budget = report.stopped_early = True
            if loop["step"] % cfg.eval_every == 0 or loop["step"] >= total or over_budget:
                evaluate_and_save()
            if loop["step"] >= total or report.stopped_early:
                break
        else:
            loop["epoch"] += 1
            loop["batch"] = 0

    if best is not None and report.best_step != loop["step"]:
        job.load_trainable_state(best)
    # drop the autocast wrapper: the tuned model predicts in its own dtype, as after a reload
    accelerator.unwrap_model(module, keep_fp32_wrapper=False)
    accelerator.free_memory()
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


def train_for_run(job: TrainJob, cfg: TrainConfig, ctx: RunContext) -> TrainReport:
    """`train` with the run's seed, checkpoint folder and progress display."""
    return train(
        job,
        cfg,
        seed=ctx.seed,
        checkpoint_dir=ctx.run_dir / "checkpoint" if ctx.run_dir else None,
        progress=ctx.train_progress,
    )
