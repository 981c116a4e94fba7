"""What `bakeoff run EXPERIMENT`, `status`, `report` and `advise` do, behind the thin CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from bakeoff.cli_output import console, progress_factory, training_bar
from bakeoff.errors import BakeoffError


def run_experiment(path: Path, out: Path | None, trust_remote_code: bool) -> None:
    from bakeoff.experiment.grid import Experiment
    from bakeoff.experiment.runner import is_main_process
    from bakeoff.experiment.spec import load_experiment
    from bakeoff.models.backends import load_model

    spec = load_experiment(path)
    experiment = Experiment(spec)
    out = out or Path("runs") / spec.name
    trust = trust_remote_code or spec.trust_remote_code
    options = spec.backend.model_copy(update={"trust_remote_code": trust})
    console.print(
        f"[bold]{spec.name}[/]: {len(experiment.runs)} runs — train sizes {experiment.sizes}, "
        f"seeds {spec.seeds}, test rows {len(experiment.splits.test)}; store {out}"
    )

    def done(record: dict[str, Any], skipped: bool) -> None:
        metric = next(iter(record["metrics"]))
        value = record["metrics"][metric]["value"]
        state = "[dim]already done[/]" if skipped else "[green]done[/]"
        console.print(f"  {state} {record['label']}: {metric} {value:.3f}")

    with progress_factory() as progress:
        store = experiment.run(
            out,
            lambda name: load_model(name, options),
            progress,
            done,
            context={"train_progress": training_bar()},
        )
    if is_main_process():
        _report_and_print(store, out)


def _report_and_print(store: Any, out: Path, constraints: dict[str, Any] | None = None) -> None:
    from bakeoff.report.build import build_report
    from bakeoff.report.render import write_report

    report = build_report(store, constraints)
    paths = write_report(report, out)
    print_candidates(report)
    print_recommendation(report["recommendation"])
    console.print(f"report: {paths['html']}\n        {paths['md']}\n        {paths['json']}")


def print_candidates(report: dict[str, Any]) -> None:
    scale = 1 if report["metric"] == "bleu" else 100
    table = Table(title=f"{report['experiment']}: {report['metric']} on {report['test_rows']} rows")
    for col in ("#", "candidate", "mean", "± sd", "CI (primary)", "runs", "ms/req", "$/1M req"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for i, c in enumerate(report["candidates"], start=1):
        table.add_row(
            str(i),
            c["name"],
            f"{c['mean'] * scale:.1f}",
            f"{c['std'] * scale:.1f}",
            f"{c['ci_low'] * scale:.1f}–{c['ci_high'] * scale:.1f}",
            str(c["n_runs"]),
            f"{c['cost']['latency_ms']:.0f}",
            f"{c['cost']['per_request_usd'] * 1e6:.2f}",
        )
    console.print(table)


def print_recommendation(rec: dict[str, Any]) -> None:
    console.print(
        f"[bold green]Recommendation:[/] {rec['choice']} (confidence {rec['confidence']})"
    )
    for line in rec["reasons"]:
        console.print(f"  - {line}")
    for finding in rec["findings"]:
        console.print(f"  [bold]{finding['rule']}[/]: {finding['message']}")
    for step in rec["next_steps"]:
        console.print(f"  next: {step}")


def print_status(folder: Path) -> None:
    from bakeoff.experiment.grid import Experiment
    from bakeoff.experiment.spec import ExperimentSpec
    from bakeoff.experiment.store import RunStore

    store = RunStore.open_existing(folder)
    raw = store.meta("experiment")
    if raw is None:
        raise BakeoffError(f"{store.path}: no experiment recorded in this store.")
    experiment = Experiment(ExperimentSpec.model_validate(raw))
    done = store.done_keys()
    table = Table(title=f"{experiment.spec.name}: {len(done)} of {len(experiment.runs)} runs done")
    for col in ("run", "model", "state"):
        table.add_column(col)
    for run in experiment.runs:
        state = "[green]done[/]" if run.key in done else "[yellow]to run[/]"
        table.add_row(run.label, run.model, state)
    console.print(table)
    console.print(f"integrity: {store.integrity()}")


def write_reports(folder: Path) -> None:
    from bakeoff.experiment.store import RunStore

    _report_and_print(RunStore.open_existing(folder), folder)


def advise_from_runs(folder: Path, constraints: dict[str, Any]) -> None:
    from bakeoff.experiment.store import RunStore

    _report_and_print(RunStore.open_existing(folder), folder, constraints)


QUESTIONS = {
    "labels": ("How many labelled examples do you have?", int),
    "requests_per_month": ("Expected requests per month?", float),
}


def advise_from_answers(answers: dict[str, Any]) -> None:
    import typer

    from bakeoff.advisor_prior import Questionnaire, prior_advice

    for key, (question, kind) in QUESTIONS.items():
        if answers.get(key) is None:
            if not sys.stdin.isatty():
                raise BakeoffError(
                    f"without an experiment folder, advise needs --{key.replace('_', '-')} "
                    "(or run it in a terminal to be asked)."
                )
            answers[key] = typer.prompt(question, type=kind)
    try:
        questionnaire = Questionnaire.model_validate(answers)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]).replace("_", "-")
        raise BakeoffError(f"--{field}: {err['msg']} (got {err.get('input')!r}).") from None
    advice = prior_advice(questionnaire)
    console.print(f"[bold yellow]Prior (not measured):[/] {advice['choice']}")
    for line in advice["reasons"]:
        console.print(f"  - {line}")
    console.print(f"  shortlist to measure: {', '.join(advice['shortlist'])}")
    console.print(advice["note"])
