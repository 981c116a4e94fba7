"""The commands for new data against an experiment: `bakeoff drift` (has it moved?) and
`bakeoff update` (a new data version, challengers, promotion). cli.py registers them; the work
is in cli_drift.py, cli_update.py and update/ (imported only when a command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bakeoff.cli_errors import user_errors
from bakeoff.errors import BakeoffError


def drift(
    task_file: Annotated[Path, typer.Option("--task", "-t", help="The task whose data is v1.")],
    data: Annotated[
        Path, typer.Option(help="New rows (JSONL/CSV/Parquet with the task's fields).")
    ],
    permutations: Annotated[
        int, typer.Option(min=19, max=9999, help="Permutations per test (p ≥ 1/(N+1)).")
    ] = 199,
    fail_on: Annotated[
        str | None,
        typer.Option(help="Exit with code 3 when the verdict is at least this: some or strong."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """How far new rows have drifted from the task's data: inputs (a domain classifier's AUC
    and the words that separate them), labels, length and vocabulary, each with a permutation
    test; a verdict none / some / strong (docs/maintenance.md)."""
    from bakeoff.cli_drift import EXIT_DRIFT, VERDICTS, run_drift

    with user_errors():
        if fail_on is not None and fail_on not in VERDICTS[1:]:
            raise BakeoffError(f"--fail-on takes some or strong, not '{fail_on}'")
        verdict = run_drift(task_file, data, permutations, as_json)
    if fail_on is not None and VERDICTS.index(verdict) >= VERDICTS.index(fail_on):
        raise typer.Exit(EXIT_DRIFT)


def update(
    folder: Annotated[Path, typer.Argument(help="A `bakeoff run` output folder.")],
    data: Annotated[
        Path | None,
        typer.Option(help="Newly labelled rows (JSONL/CSV/Parquet, the task's fields)."),
    ] = None,
    task_file: Annotated[
        Path | None,
        typer.Option(
            "--task",
            "-t",
            help="Or a task file whose data (all its splits) are the new rows: the same kind "
            "and labels, its own fields.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Measure only: drift and the champion re-checked, no training.")
    ] = False,
    challengers: Annotated[
        int,
        typer.Option(min=0, max=20, help="Next-best candidates re-adapted beside the champion's."),
    ] = 2,
    window: Annotated[
        int | None,
        typer.Option(min=1, help="Train on the newest N versions' new rows (default: all)."),
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option(
            min=0, max=1, help="Non-inferiority margin on old rows (default: max_quality_loss)."
        ),
    ] = None,
    permutations: Annotated[
        int, typer.Option(min=19, max=9999, help="Permutations per drift test.")
    ] = 199,
    warm_start: Annotated[
        bool,
        typer.Option(
            help="Also train the champion on from its own weights (a fine-tuned champion), "
            "beside training it from scratch."
        ),
    ] = False,
    extend_labels: Annotated[
        bool,
        typer.Option(
            help="Accept labels the experiment does not have: the label set grows and every "
            "candidate is re-adapted on it."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The result as JSON.")] = False,
) -> None:
    """New labelled rows for an experiment: a new data version (split like the task, checked
    against every earlier row), its drift, the champion re-scored on old and new test rows,
    the champion's strategy and the next best re-adapted on the grown data, and a promotion
    only by a stated rule (docs/maintenance.md). Rerun to resume. --dry-run trains nothing and
    exits 3 when re-adapting should be considered."""
    from bakeoff.cli_update import EXIT_CONSIDER, run_update
    from bakeoff.update.flow import UpdateOptions

    options = UpdateOptions(dry_run, challengers, window, margin, permutations, warm_start)
    with user_errors():
        consider = run_update(folder, data, task_file, options, as_json, extend_labels)
    if consider:
        raise typer.Exit(EXIT_CONSIDER)
