"""`bakeoff run --explain`: the schedule each trained run would train on, and why, computed from
the data (rows, classes, validation rows) without loading a model or training anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bakeoff.experiment.plan import RunConfig
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.label_list import label_list_reason
from bakeoff.finetuning.schedule import Schedule, plan_schedule
from bakeoff.task.data import Splits
from bakeoff.task.spec import TaskSpec

if TYPE_CHECKING:
    from bakeoff.experiment.grid import Experiment


@dataclass(frozen=True)
class PlannedTraining:
    run: RunConfig
    rows: int  # the rows the loop iterates (encoder-head: with its same-label concatenations)
    schedule: Schedule
    budget_minutes: float | None  # the schedule is cut to fit once steps 2–6 are timed
    prompt_note: str | None = None  # the paired prompt's label list left out, and why
    adapted: str | None = None  # what its own settings resolve to (lora: the layers), and why


def planned_trainings(experiment: Experiment) -> list[PlannedTraining]:
    """The schedule of every trained run of a grid made ready to run."""
    return [
        item
        for run in experiment.runs
        if (item := planned_training(run, experiment.splits_for(run), experiment.task))
    ]


def planned_training(run: RunConfig, splits: Splits, task: TaskSpec) -> PlannedTraining | None:
    """The schedule `run` will be given (finetuning/schedule.py); None for untrained runs."""
    resolved = run.resolved
    if resolved.kind != "trained":
        return None
    info = resolved.main
    training = run.settings["training"]
    cfg = TrainConfig.model_validate(training["train"])
    rows = info.training_rows(training, splits.train) if info.training_rows else len(splits.train)
    classes = task.classes
    schedule = plan_schedule(
        cfg,
        info.training_defaults,
        rows=rows,
        classes=classes,
        validation_rows=len(splits.validation),
    )
    note = label_list_reason(cfg.label_list, task) if resolved.uses_prompt else None
    adapted = None
    if info.explain_settings is not None and info.settings is not None and info.settings_key:
        own = info.settings.model_validate(training.get(info.settings_key, {}))
        adapted = info.explain_settings(own, classes)
    return PlannedTraining(run, rows, schedule, cfg.max_minutes, note, adapted)


def explain_lines(planned: PlannedTraining) -> list[str]:
    """The schedule in words: every number with its reason."""
    s = planned.schedule
    lines = [
        f"{planned.run.label} (seed {planned.run.seed}): {planned.rows} training rows → "
        f"{s.steps} steps ({s.epochs:.1f} epochs), lr {s.lr:.2g}, warm-up {s.warmup_steps}, "
        f"validated every {s.eval_every} steps on {s.eval_rows} rows"
    ]
    lines += [f"  {name}: {why}" for name, why in s.reasons.items()]
    if planned.prompt_note is not None:
        lines.append(f"  prompt: {planned.prompt_note}")
    if planned.adapted is not None:
        lines.append(f"  adapted: {planned.adapted}")
    if planned.budget_minutes is not None:
        lines.append(
            f"  budget: at most {planned.budget_minutes:g} minutes — steps 2–6 are timed and "
            "the steps cut to fit, the learning rate still decaying to 0"
        )
    return lines
