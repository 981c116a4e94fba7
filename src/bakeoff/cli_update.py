"""`bakeoff update DIR --data NEW`: what the update did, printed (update/flow.py does it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from bakeoff.cli_output import console

if TYPE_CHECKING:
    from bakeoff.update.flow import UpdateOptions

EXIT_CONSIDER = 3  # --dry-run: drift, or the champion got significantly worse on the new rows


def run_update(
    folder: Path,
    data: Path | None,
    task_file: Path | None,
    options: UpdateOptions,
    as_json: bool,
    extend_labels: bool = False,
) -> bool:
    """Run (or with `options.dry_run` only measure) an update with the rows of `data` or of
    `task_file`'s data; True when a dry run finds that re-adapting should be considered."""
    from bakeoff.cli_output import progress_factory, training_bar
    from bakeoff.experiment.executor import Worker
    from bakeoff.update.flow import Update
    from bakeoff.update.new_rows import update_rows

    rows, source, added = update_rows(folder, data, task_file, extend_labels)
    update = Update(folder, rows, source, added)
    with progress_factory() as progress:
        worker = Worker(progress=progress, train_progress=training_bar())
        result = update.run(options, worker)
    dry_run = options.dry_run
    consider = result.drift["verdict"] != "none" or bool(result.recheck["worse"])
    if as_json:
        if result.decision is not None:
            write_update_report(folder)
        print(
            json.dumps(
                {
                    "version": result.version.number,
                    "drift": result.drift,
                    "champion": result.recheck,
                    "decision": result.decision,
                    "challengers": [
                        {"key": r.key, "label": r.label, "adapt_seconds": r.usage.adapt_seconds}
                        for r in result.challengers
                    ],
                    "skipped": result.skipped,
                    "consider": consider,
                }
            )
        )
        return consider and dry_run
    v = result.version
    resumed = " — decided before; unchanged" if result.already_decided else ""
    resumed = resumed or (" — resumed" if update.resumed else "")
    console.print(
        f"[bold]data version {v.number}[/]: {len(v.train)} train + {len(v.test)} test rows "
        f"(split like the task, stratified){resumed}"
    )
    console.print(f"[bold]drift: {result.drift['verdict']}[/]")
    for reason in result.drift["reasons"]:
        console.print(f"  - {escape(reason)}")
    _print_recheck(result.recheck)
    if result.decision is None:
        console.print(
            "re-adapting should be considered (exit 3)"
            if consider
            else "nothing to do: no drift, and the champion holds on the new rows"
        )
        return consider
    for line in result.skipped:
        console.print(f"  [dim]not re-adapted: {escape(line)}[/]")
    for challenge, record in zip(result.decision["challenges"], result.challengers, strict=True):
        console.print(
            f"[bold]challenger[/] {escape(challenge['challenger'])} "
            f"(re-adapted in {record.usage.adapt_seconds:.0f} s):"
        )
        for reason in challenge["reasons"]:
            console.print(f"  - {escape(reason)}")
    for reason in result.decision["reasons"]:
        console.print(f"[bold]decision:[/] {escape(reason)}")
    console.print(f"report (with its History section): {write_update_report(folder)}")
    return False


def write_update_report(folder: Path) -> Path:
    from bakeoff.experiment.store import RunStore
    from bakeoff.report.build import build_report
    from bakeoff.report.render import write_report

    return write_report(build_report(RunStore.open_existing(folder)), folder)["html"]


def _print_recheck(recheck: dict[str, Any]) -> None:
    change, pts = recheck["change"], 100
    worse = "significantly worse" if recheck["worse"] else "not significantly worse"
    console.print(
        f"[bold]champion[/] {escape(recheck['champion'])}: {recheck['metric']} "
        f"{pts * recheck['old']['value']:.1f}% on {recheck['old_rows']} old test rows, "
        f"{pts * recheck['new']['value']:.1f}% on {recheck['new_rows']} new ones — change "
        f"{pts * change['value']:+.1f} points (95% CI {pts * change['ci_low']:+.1f} to "
        f"{pts * change['ci_high']:+.1f}; {worse})"
    )
