"""What `bakeoff run EXPERIMENT`, `status`, `report` and `advise` do, behind the thin CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from bakeoff.cli_output import (
    GridProgress,
    console,
    progress_factory,
    set_quiet,
    training_bar,
)
from bakeoff.config import settings_error
from bakeoff.device import resolve_device
from bakeoff.errors import BakeoffError


def run_experiment(
    path: Path,
    out: Path | None,
    trust_remote_code: bool,
    *,
    explain: bool = False,
    mlflow: str | None = None,
    executor: dict[str, Any] | None = None,
    device: str | None = None,
) -> None:
    from bakeoff.experiment.spec import ExecutorSpec, MlflowTracking, load_experiment

    spec = load_experiment(path)
    if device is not None:  # --device: over the file's `backend.device`
        try:
            backend = spec.backend.model_validate({**spec.backend.model_dump(), "device": device})
        except ValidationError as exc:
            raise settings_error(exc, "options", "bakeoff run --help", flags=True) from None
        spec = spec.model_copy(update={"backend": backend})
    if executor:  # --executor / --ray-address: over the file's `executor:`
        try:
            chosen = ExecutorSpec.model_validate({**spec.executor.model_dump(), **executor})
        except ValidationError as exc:
            raise settings_error(exc, "options", "bakeoff run --help", flags=True) from None
        spec = spec.model_copy(update={"executor": chosen})
    if mlflow is not None:  # --mlflow: this URI, the file's other tracking settings kept
        config = spec.tracking.mlflow or MlflowTracking(uri=mlflow)
        tracking = spec.tracking.model_copy(
            update={"mlflow": config.model_copy(update={"uri": mlflow})}
        )
        spec = spec.model_copy(update={"tracking": tracking})
    trust = trust_remote_code or spec.trust_remote_code
    _execute(spec, out or Path("runs") / spec.name, spec.backend, trust, explain)


def run_task(
    task: Path,
    out: Path,
    *,
    strategies: list[str],
    model: str,
    demos: list[str],
    prompt: dict[str, Any],
    wordings: list[int],
    seed: int,
    train_size: int | None,
    limit_test: int | None,
    drop_invalid: bool,
    training: dict[str, Any],
    own_settings: dict[str, dict[str, Any]],
    backend: Any,
    explain: bool = False,
    mlflow: str | None = None,
    executor: dict[str, Any] | None = None,
) -> None:
    """`bakeoff run --task …`: the same pipeline as an experiment file, built from flags."""
    from bakeoff.experiment.registry import default_training
    from bakeoff.experiment.spec import ExperimentSpec
    from bakeoff.strategy_registry import resolve

    entries: list[dict[str, Any]] = []
    for name in strategies:
        resolved = resolve(name)
        keys = [p.settings_key for p in resolved.own_parts]
        own = {key: own_settings[key] for key in keys if key in own_settings}
        if resolved.kind == "trained":  # flag errors name the flag
            default_training(resolved, {"train": training, **own}, "options", flags=True)
        for method in demos if resolved.uses_demos else [None]:
            entries.append({"name": name, **({"demos": method} if method else {}), **own})
    raw = {
        "name": load_task_name(task),
        "task": str(task.resolve()),
        "models": [model],
        "strategies": entries,
        "train_sizes": [train_size if train_size is not None else "all"],
        "seeds": [seed],
        "wordings": wordings,
        "test_size": limit_test,
        "prompt": {**prompt, "demos": demos[0] if demos else "random"},
        "training": training,
        "drop_invalid": drop_invalid,
        **({"tracking": {"mlflow": {"uri": mlflow}}} if mlflow else {}),
        **({"executor": executor} if executor else {}),
    }
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        error = str(settings_error(exc, "options", "bakeoff run --help", flags=True))
        renamed = (
            ("--test-size", "--limit-test"),
            ("--train-sizes", "--train-size"),
            ("`search`: `max_calls`", "--search-calls:"),
        )
        for field, flag in renamed:
            error = error.replace(field, flag)
        raise BakeoffError(error) from None
    _execute(spec, out, backend, backend.trust_remote_code, explain)


def load_task_name(path: Path) -> str:
    """The task's name as an experiment name (it names a folder: no spaces or slashes)."""
    import re

    from bakeoff.task.spec import load_task

    return re.sub(r"[^A-Za-z0-9._-]+", "-", load_task(path).name).strip("-.") or "task"


def _execute(spec: Any, out: Path, backend: Any, trust: bool, explain: bool = False) -> None:
    from bakeoff.api import run_grid
    from bakeoff.experiment.executor import Worker, is_main_process
    from bakeoff.experiment.grid import Experiment

    options = backend.model_copy(update={"trust_remote_code": trust})
    resolve_device(options.device)  # a GPU asked for that is not here: say so before any run
    experiment = Experiment(spec, options)
    console.print(
        f"[bold]{spec.name}[/]: {len(experiment.runs)} runs — train sizes {experiment.sizes}, "
        f"seeds {spec.seeds}, test rows {len(experiment.splits.test)}; store {out}",
        soft_wrap=True,
    )
    if explain:
        print_schedules(experiment)
        return
    with progress_factory() as progress:
        worker = Worker(progress=progress, train_progress=training_bar())
        results = run_grid(experiment, out, progress=GridProgress(), worker=worker)
    set_quiet(False)  # --quiet hides the progress, not the final summary
    if is_main_process():
        _print_report(results.report().data, out)
        if results.tracking:
            logged = results.tracking
            champion = f"; champion: version {logged['version']}" if logged["version"] else ""
            console.print(f"mlflow: {logged['added']} run(s) logged to {logged['uri']}{champion}")


def print_schedules(experiment: Any) -> None:
    """`--explain`: every trained run's schedule with its reasons; nothing is trained (the
    same list `bakeoff.schedules` returns, from the grid already loaded)."""
    from bakeoff.experiment.explain import explain_lines, planned_trainings

    planned = planned_trainings(experiment)
    if not planned:
        console.print("no trained runs in this grid: nothing to schedule.")
    for item in planned:
        for line in explain_lines(item):
            console.print(escape(line), soft_wrap=True)
    console.print("[dim]--explain: nothing was run (docs/finetuning.md, the schedule).[/]")


def _report_and_print(store: Any, out: Path, constraints: dict[str, Any] | None = None) -> None:
    from bakeoff.api import Results

    report = Results(out, store).report(constraints)
    report.write(out)
    _print_report(report.data, out)


def _print_report(report: dict[str, Any], out: Path) -> None:
    from bakeoff.report.build import report_paths

    paths = report_paths(out)
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
    from bakeoff.api import open_results

    status = open_results(folder).status()
    table = Table(title=f"{status.experiment}: {status.done} of {len(status.runs)} runs done")
    for col in ("run", "model", "state"):
        table.add_column(col)
    colours = {"done": "[green]done[/]", "to run": "[yellow]to run[/]"}
    for run in status.runs:
        state = colours.get(run.state, "")
        if run.state == "failed":
            state = f"[red]failed[/] (attempt {run.attempt}: {escape((run.error or '')[:80])})"
        table.add_row(run.label, run.model, state)
    console.print(table)
    console.print(f"integrity: {status.integrity}")
    if status.integrity != "ok" or status.unstored:
        why = (
            f"SQLite reports '{status.integrity}'"
            if status.integrity != "ok"
            else f"{len(status.unstored)} finished run(s) have a record in their folder but not "
            "in the store"
        )
        console.print(
            f"[yellow]{why}[/] — `bakeoff rebuild {folder}` rebuilds the store from the runs' "
            "folders (the old file is kept aside)."
        )


def rebuild_store(folder: Path) -> None:
    from bakeoff.api_catalog import rebuild

    rebuilt = rebuild(folder)
    if rebuilt.old_store is not None:
        console.print(f"old store moved to {rebuilt.old_store}")
    console.print(f"rebuilt {folder / 'bakeoff.sqlite'}: {rebuilt.restored} run(s) restored")
    for path in rebuilt.unreadable:
        console.print(f"[yellow]skipped[/] {path}: unreadable — that run is redone by the next run")


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

    from bakeoff.api_catalog import prior_advice

    for key, (question, kind) in QUESTIONS.items():
        if answers.get(key) is None:
            if not sys.stdin.isatty():
                raise BakeoffError(
                    f"without an experiment folder, advise needs --{key.replace('_', '-')} "
                    "(or run it in a terminal to be asked)."
                )
            answers[key] = typer.prompt(question, type=kind)
    advice = prior_advice(**answers)
    console.print(f"[bold yellow]Prior (not measured):[/] {advice['choice']}")
    for line in advice["reasons"]:
        console.print(f"  - {line}")
    console.print(f"  shortlist to measure: {', '.join(advice['shortlist'])}")
    console.print(advice["note"])
