"""The Python API's catalogue and checks: what `bakeoff validate`, `strategies`, `models`,
`advise` (without data) and `rebuild` do, as functions returning objects (docs/python.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bakeoff.experiment.explain import PlannedTraining
    from bakeoff.experiment.spec import ExperimentSpec
    from bakeoff.strategy_registry import StrategyInfo
    from bakeoff.task.data import Splits
    from bakeoff.task.spec import TaskSpec


def load_data(task: TaskSpec | str | Path, *, drop_invalid: bool = False) -> Splits:
    """The task's rows, read, validated and split (train / validation / test) as every run
    splits them — what `bakeoff validate` checks. Bad rows raise a `ProblemsError` naming file,
    line and field; `drop_invalid` drops them instead (counted in `.dropped`)."""
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import TaskSpec, load_task

    spec = task if isinstance(task, TaskSpec) else load_task(task)
    return load_splits(spec, drop_invalid=drop_invalid or None)


def strategies() -> list[StrategyInfo]:
    """The registered strategies (name, kind, grid axes, settings key, summary); hybrids are
    two of them joined by `+` (trained first)."""
    from bakeoff.strategy_registry import registered

    return list(registered().values())


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # causal or encoder
    status: str  # what it is, and installed or how to install it


def bundled_models() -> list[ModelEntry]:
    """The bundled models; any local HF folder, .gguf path or hub id works too."""
    from bakeoff.models.registry import available

    return [ModelEntry(*row) for row in available()]


def prior_advice(
    *,
    labels: int,
    kind: str | None = None,
    classes: int | None = None,
    requests_per_month: float | None = None,
    latency_ms: float | None = None,
    new_data_every_months: float | None = None,
    gpu: bool | None = None,
) -> dict[str, Any]:
    """Advice before any measurement (`bakeoff advise` without a folder): a prior choice, its
    reasons and the shortlist to measure. What is left out takes the questionnaire's default
    (advisor_prior.Questionnaire); bad values raise a `BakeoffError` naming them."""
    from pydantic import ValidationError

    from bakeoff.advisor_prior import Questionnaire
    from bakeoff.advisor_prior import prior_advice as advise
    from bakeoff.config import settings_error

    given = {
        "labels": labels,
        "kind": kind,
        "classes": classes,
        "requests_per_month": requests_per_month,
        "latency_ms": latency_ms,
        "new_data_every_months": new_data_every_months,
        "gpu": gpu,
    }
    try:
        questionnaire = Questionnaire.model_validate(
            {k: v for k, v in given.items() if v is not None}
        )
    except ValidationError as exc:
        raise settings_error(exc, "advise", "bakeoff advise --help", flags=True) from None
    return advise(questionnaire)


@dataclass(frozen=True)
class Rebuilt:
    restored: int  # runs read back from their folders
    unreadable: list[str]  # record files that could not be read: those runs are redone
    old_store: Path | None  # where the damaged store was moved


def rebuild(folder: str | Path) -> Rebuilt:
    """A new store from the folder's `setup.json` and every run's `record.json` (the old file
    is kept aside) — `bakeoff rebuild`."""
    from bakeoff.experiment.store import rebuild as rebuild_store

    restored, unreadable, aside = rebuild_store(Path(folder))
    return Rebuilt(restored, unreadable, aside)


def schedules(spec: ExperimentSpec | str | Path) -> list[PlannedTraining]:
    """Every trained run's schedule (steps, learning rate, warm-up, evaluations, the prompt it
    trains with) and why each was chosen, without training — `bakeoff run --explain`.
    `explain_lines(item)` (bakeoff.experiment.explain) puts one in words."""
    from bakeoff.api import load_experiment
    from bakeoff.experiment.explain import planned_trainings
    from bakeoff.experiment.grid import Experiment
    from bakeoff.experiment.spec import ExperimentSpec

    return planned_trainings(
        Experiment(spec if isinstance(spec, ExperimentSpec) else load_experiment(spec))
    )
