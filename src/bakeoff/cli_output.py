"""What the CLI prints: data summaries, progress bars, the leaderboard, a Markdown summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bakeoff.evaluation.registry import metrics_for
from bakeoff.task.data import Splits
from bakeoff.task.spec import TaskSpec

console = Console(highlight=False)


def print_data_summary(task: TaskSpec, splits: Splits) -> None:
    info = splits.summary()
    console.print(
        f"[green]ok[/] task '{task.name}' ({task.kind}): train {info['train']}, "
        f"validation {info['validation']}, test {info['test']}"
    )
    if task.kind == "classification":
        console.print(f"  train labels: {info['train_labels']}")
        console.print(f"  test labels:  {info['test_labels']}")
    if info["dropped"]:
        console.print(f"  [yellow]dropped rows by reason:[/] {info['dropped']}")


@contextmanager
def progress_factory() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yields make(description, total) -> advance(n); one rich bar per long loop."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:

        def make(description: str, total: int) -> Callable[[int], None]:
            bar = progress.add_task(description, total=total)
            return lambda n: progress.advance(bar, n)

        yield make


def training_bar() -> Callable[[int, dict[str, float]], None]:
    """A progress line for training: steps, loss, tokens/s, and each validation result."""
    state: dict[str, float] = {"steps": 0}

    def update(steps: int, stats: dict[str, float]) -> None:
        state["steps"] += steps
        if "val_metric" in stats:
            console.print(
                f"  step {int(stats['step'])}: train loss {stats['train_loss']:.4f}, "
                f"validation {stats['val_metric']:.3f}, train {stats['train_metric']:.3f}"
            )
        elif int(state["steps"]) % 10 == 0:
            console.print(
                f"  step {int(state['steps'])}: loss {stats['loss']:.4f}, "
                f"{stats['tokens_per_second']:.0f} tokens/s",
                style="dim",
            )

    return update


def _fmt(metric: dict[str, float], percent: bool) -> str:
    scale = 100 if percent else 1
    return (
        f"{metric['value'] * scale:.1f} "
        f"[{metric['ci_low'] * scale:.1f}, {metric['ci_high'] * scale:.1f}]"
    )


def _ranked(task: TaskSpec, runs: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    names = metrics_for(task.kind, task.metrics)
    head = names[0]
    return names, sorted(runs, key=lambda r: -r["metrics"][head]["value"])


def _percent(name: str) -> bool:
    return name != "bleu"


def print_leaderboard(task: TaskSpec, runs: list[dict[str, Any]]) -> None:
    names, ranked = _ranked(task, runs)
    table = Table(title=f"{task.name}: test split, 95% bootstrap CIs")
    table.add_column("#", justify="right")
    table.add_column("run")
    for name in names:
        table.add_column(name + (" %" if _percent(name) else ""), justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("prompt tok/row", justify="right")
    for i, run in enumerate(ranked, start=1):
        table.add_row(
            str(i),
            run["label"],
            *[_fmt(run["metrics"][n], _percent(n)) for n in names],
            f"{run['usage']['rows_per_second']:.1f}",
            f"{run['usage']['prompt_tokens_per_row']:.0f}",
        )
    console.print(table)


def write_markdown(task: TaskSpec, data: dict[str, Any], path: Path) -> None:
    names, ranked = _ranked(task, data["runs"])
    lines = [
        f"# bakeoff: {task.name}",
        "",
        f"Model `{data['setup']['model']}`, seed {data['setup']['seed']}, "
        f"test rows {ranked[0]['usage']['rows'] if ranked else 0}. Metrics with 95% bootstrap CIs.",
        "",
        "| # | run | " + " | ".join(names) + " | rows/s | prompt tokens/row | unparsed |",
        "|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for i, run in enumerate(ranked, start=1):
        cells = [_fmt(run["metrics"][n], _percent(n)) for n in names]
        lines.append(
            f"| {i} | {run['label']} | "
            + " | ".join(cells)
            + f" | {run['usage']['rows_per_second']:.1f} | "
            f"{run['usage']['prompt_tokens_per_row']:.0f} | {run.get('unparsed', 0)} |"
        )
    spread = data.get("wording_spread") or []
    if spread:
        lines += ["", "## Spread across instruction wordings", ""]
        for group in spread:
            lines.append(
                f"- {', '.join(group['runs'])}: {group['metric']} {group['min']:.3f}–"
                f"{group['max']:.3f} (spread {group['spread']:.3f})"
            )
    if ranked:
        best = ranked[0]
        lines += [
            "",
            f"## Best: {best['label']}",
            "",
            "```",
            best["candidate"].get("example_prompt", ""),
            "```",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
