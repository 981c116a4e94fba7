"""`bakeoff drift`: how far new rows have moved from a task's data (evaluation/drift.py)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape

from bakeoff.cli_output import console
from bakeoff.update.new_rows import drift_of

VERDICTS = ("none", "some", "strong")
EXIT_DRIFT = 3  # `--fail-on`: the verdict reached the level asked for


def run_drift(task_file: Path, data: Path, permutations: int, as_json: bool) -> str:
    """Print the drift report of `data` against all rows of the task; return the verdict."""
    from bakeoff.task.spec import load_task

    task = load_task(task_file)
    report = drift_of(task, data, permutations)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return report.verdict
    console.print(
        f"[bold]drift: {report.verdict}[/] — {report.old_rows:,} rows of '{task.name}' against "
        f"{report.new_rows:,} new rows ({report.permutations} permutations; p-values are "
        "compared with 0.05 / 4)"
    )
    for reason in report.reasons:
        console.print(f"  - {escape(reason)}")
    auc = report.input_auc
    console.print(
        f"inputs: AUC {auc.statistic:.2f} (p = {auc.p:.3f}); words of the old rows: "
        f"{', '.join(report.separating_words['old'][:8])}; of the new: "
        f"{', '.join(report.separating_words['new'][:8])}"
    )
    if report.label_js is not None:
        moved = sorted(report.label_shares.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))
        shares = ", ".join(f"{k} {100 * o:.0f}% → {100 * n:.0f}%" for k, (o, n) in moved[:6])
        console.print(
            f"labels: Jensen–Shannon {report.label_js.statistic:.3f} "
            f"(p = {report.label_js.p:.3f}); {shares}"
        )
    if report.length is not None:
        old_words, new_words = report.mean_words
        console.print(
            f"length: {old_words:.1f} → {new_words:.1f} words a row (p = {report.length.p:.3f})"
        )
    if report.unseen_words is not None:
        console.print(
            f"vocabulary: {100 * report.unseen_words.statistic:+.1f} points of unseen words "
            f"beyond the usual (p = {report.unseen_words.p:.3f})"
        )
    return report.verdict
