"""The training schedule of one run, chosen from the data's size: steps, warm-up, learning rate
and evaluation cadence, each with the reason it was chosen.

A fixed number of epochs starves small data sets (60 rows at batch 8 and 2 epochs make 16
optimizer steps, too few to move LoRA off its start) and wastes time on large ones. So the
schedule takes the method's epochs when the data is plentiful and a *floor* of examples seen
otherwise (the few-shot recipes — LM-BFF, T-Few — fix the number of steps instead of epochs);
early stopping on validation, with the best weights restored, keeps many passes over a few rows
from costing accuracy. Whatever the user set explicitly wins and is reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.label_list import LONG_LABEL_LIST

MIN_EXAMPLES = 1200  # examples seen at the least (150 steps at batch 8)
EXAMPLES_PER_CLASS = 32  # … and at least this many per class (Banking77: 2,464)
EVALUATIONS = 10  # evaluations a run aims for
EVAL_EVERY_RANGE = (5, 100)  # optimizer steps between evaluations, at least / at most
WARMUP_RATIO = 0.06
EVAL_ROWS = 200  # validation rows per evaluation; a smaller validation split is used whole
REFERENCE_BATCH = 8  # the methods' learning rates were tuned at this effective batch


@dataclass
class Schedule:
    """What the loop runs: every number concrete, and why each was chosen."""

    steps: int
    min_steps: int  # early stopping may not end training before this
    warmup_steps: int
    lr: float
    eval_every: int
    eval_rows: int
    steps_per_epoch: int
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def epochs(self) -> float:
        return self.steps / self.steps_per_epoch

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "epochs": round(self.epochs, 2)}


def plan_schedule(
    cfg: TrainConfig,
    defaults: Mapping[str, Any],
    *,
    rows: int,
    classes: int,
    validation_rows: int,
    world: int = 1,
) -> Schedule:
    """The schedule for `rows` training rows of `classes` labels (0: generation).

    `defaults` are the method's (its registration's `training_defaults`: lr, epochs); `cfg`
    holds the user's settings, None where the schedule chooses.
    """
    per_step = cfg.batch_size * cfg.grad_accum * world  # examples per optimizer step
    batches = math.ceil(rows / cfg.batch_size)
    per_rank = batches // world if world > 1 else batches
    steps_per_epoch = max(1, math.ceil(per_rank / cfg.grad_accum))
    reasons: dict[str, str] = {}

    epochs = float(defaults.get("epochs", 2.0))
    by_epochs = math.ceil(epochs * steps_per_epoch)
    floor_examples = max(MIN_EXAMPLES, EXAMPLES_PER_CLASS * classes)
    if cfg.min_steps is not None:
        floor, floor_why = cfg.min_steps, "set by you"
    else:
        floor = math.ceil(floor_examples / per_step)
        per_class = f", {EXAMPLES_PER_CLASS} per class × {classes}" if classes else ""
        floor_why = f"{floor_examples} examples seen at the least{per_class}, {per_step} a step"
    if (cfg.max_steps is not None or cfg.epochs is not None) and cfg.min_steps is None:
        floor, floor_why = 0, "you set the length; no floor"
    if cfg.max_steps is not None and cfg.epochs is not None:
        steps = min(cfg.max_steps, max(1, math.ceil(cfg.epochs * steps_per_epoch)))
        reasons["steps"] = f"{cfg.epochs:g} epochs of {steps_per_epoch} steps, at most max_steps "
        reasons["steps"] += f"{cfg.max_steps}, set by you"
    elif cfg.max_steps is not None:
        steps = cfg.max_steps
        reasons["steps"] = "max_steps, set by you"
    elif cfg.epochs is not None:
        steps = max(1, math.ceil(cfg.epochs * steps_per_epoch))
        reasons["steps"] = f"{cfg.epochs:g} epochs of {steps_per_epoch} steps, set by you"
        if cfg.min_steps is not None and steps < cfg.min_steps:
            steps = cfg.min_steps
            reasons["steps"] += f", raised to min_steps {steps}, set by you"
    elif by_epochs >= floor:
        steps = by_epochs
        reasons["steps"] = (
            f"the method's {epochs:g} epochs of {steps_per_epoch} steps ({rows} rows): "
            f"above the floor of {floor} ({floor_why})"
        )
    else:
        steps = floor
        reasons["steps"] = (
            f"floor of {floor} steps ({floor_why}) — {epochs:g} epochs of {rows} rows would be "
            f"only {by_epochs}; {steps / steps_per_epoch:.1f} passes, early stopping on "
            "validation keeps the best"
        )
    floor = min(floor, steps)
    reasons["min_steps"] = f"early stopping waits {floor} steps ({floor_why})"
    if steps <= floor:
        reasons["min_steps"] += "; so all steps run and the best evaluation's weights are kept"

    if cfg.warmup_ratio is not None:
        warmup = max(1, int(steps * cfg.warmup_ratio))
        reasons["warmup_steps"] = f"{cfg.warmup_ratio:g} of the steps, set by you"
    else:
        warmup = max(1, int(steps * WARMUP_RATIO))
        reasons["warmup_steps"] = f"{WARMUP_RATIO:g} of the steps, then linear decay to 0"

    base_lr, which = float(defaults.get("lr", 2e-4)), "the method's default"
    if classes > LONG_LABEL_LIST and "lr_many_classes" in defaults:
        # the prompt leaves the label list out: the label names are learnt from the rows
        base_lr = float(defaults["lr_many_classes"])
        which = f"the method's rate for more than {LONG_LABEL_LIST} classes ({classes})"
    if cfg.lr is not None:
        lr = cfg.lr
        reasons["lr"] = "set by you"
    elif per_step == REFERENCE_BATCH:
        lr = base_lr
        reasons["lr"] = f"{which} at {REFERENCE_BATCH} examples a step"
    else:
        lr = base_lr * math.sqrt(per_step / REFERENCE_BATCH)
        reasons["lr"] = (
            f"{which}, {base_lr:g} × √({per_step}/{REFERENCE_BATCH}) for {per_step} "
            "examples a step (square-root scaling for Adam)"
        )

    if cfg.eval_every is not None:
        eval_every = cfg.eval_every
        reasons["eval_every"] = "set by you"
    else:
        eval_every = evaluation_cadence(steps)
        low, high = EVAL_EVERY_RANGE
        reasons["eval_every"] = (
            f"about {EVALUATIONS} evaluations over {steps} steps, {low}–{high} steps apart"
        )
    if cfg.eval_rows is not None:
        eval_rows = min(cfg.eval_rows, validation_rows)
        reasons["eval_rows"] = "set by you"
    elif validation_rows <= EVAL_ROWS:
        eval_rows = validation_rows
        reasons["eval_rows"] = f"all {validation_rows} validation rows"
    else:
        eval_rows = EVAL_ROWS
        reasons["eval_rows"] = f"the same {EVAL_ROWS} of {validation_rows} validation rows"
    return Schedule(
        steps=steps,
        min_steps=floor,
        warmup_steps=min(warmup, steps),
        lr=lr,
        eval_every=eval_every,
        eval_rows=max(1, eval_rows),
        steps_per_epoch=steps_per_epoch,
        reasons=reasons,
    )


def evaluation_cadence(steps: int) -> int:
    low, high = EVAL_EVERY_RANGE
    return min(steps, high, max(low, math.ceil(steps / EVALUATIONS)))


def fit_to_budget(
    schedule: Schedule,
    seconds_per_step: float,
    minutes: float,
    done: int,
    cadence_set: bool = False,
) -> bool:
    """Shorten the schedule to what the time budget affords (the learning-rate decay then ends
    in time, and unless `cadence_set` by the user the evaluations are spread over the shorter
    run); True when it was shortened."""
    affordable = done + int((60 * minutes - done * seconds_per_step) / max(seconds_per_step, 1e-9))
    if affordable >= schedule.steps:
        return False
    schedule.steps = max(done + 1, affordable)
    schedule.min_steps = min(schedule.min_steps, schedule.steps)
    schedule.warmup_steps = min(schedule.warmup_steps, schedule.steps)
    if not cadence_set:
        schedule.eval_every = evaluation_cadence(schedule.steps)
    schedule.reasons["steps"] += (
        f"; cut to {schedule.steps} to fit the {minutes:g}-minute budget "
        f"({seconds_per_step:.2f} s a step)"
    )
    return True


def describe_schedule(training: dict[str, Any]) -> str:
    """The schedule a run trained on, and why (finetuning/schedule.py); "" for older runs."""
    s = training.get("schedule")
    if not s:
        return ""
    line = (
        f"{s['steps']} steps ({s['epochs']:g} epochs), lr {s['lr']:.2g}, validated every "
        f"{s['eval_every']} steps on {s['eval_rows']} rows — {s['reasons']['steps']}"
    )
    if training.get("adapted"):  # lora: which layers, and why
        line += f"; adapted: {training['adapted']}"
    return line


def describe_stopping(training: dict[str, Any]) -> str:
    """Which step was kept and how far above the next best evaluation, against the noise."""
    stop, best = training.get("stopping"), training.get("best_metric")
    if not stop or best is None:
        return ""
    line = (
        f"kept step {training.get('best_step')} of {training.get('steps')}: "
        f"{100 * best:.1f}% on {stop['validation_rows']} validation rows "
        f"(± {100 * stop['standard_error']:.1f} s.e.)"
    )
    if stop["lead_over_next"] is not None:
        line += f", {100 * stop['lead_over_next']:.1f} points above the next best evaluation"
        line += " — within the noise, so the step chosen is a guess" if stop["noisy"] else ""
    return line
