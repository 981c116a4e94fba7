"""What the CLI prints: data summaries, the grid's progress, progress bars, training lines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bakeoff.task.data import Splits
from bakeoff.task.spec import TaskSpec

console = Console(highlight=False)
errors = Console(highlight=False, stderr=True)  # printed under --quiet too


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
    if info["truncated"]:
        console.print(f"  [yellow]inputs cut to data.max_input_chars:[/] {info['truncated']}")


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


def set_quiet(quiet: bool) -> None:
    """--quiet: only errors (on stderr) and the final summary."""
    console.quiet = quiet


class GridProgress:
    """One line per run of the grid: which run, how many done and left, and an ETA."""

    def __init__(self) -> None:
        self.finished, self.seconds, self.started_at = 0, 0.0, 0.0

    def __call__(self, event: Any) -> None:
        """A `bakeoff.api.RunProgress`: a run started (no record yet), failed or finished."""
        if event.error is not None:
            then = "stored as failed — rerun to retry it" if event.final else "retrying"
            errors.print(
                f"  [red]attempt {event.attempt} failed[/] {escape(event.label)}: "
                f"{escape(event.error)} — {then}"
            )
        elif event.record is None:
            self.start(event.index, event.total, event)
        else:
            self.done(event.record, event.skipped)

    def start(self, index: int, total: int, run: Any) -> None:
        self.started_at = time.perf_counter()
        left = total - index
        eta = ""
        if self.finished:
            eta = f", eta {_duration(self.seconds / self.finished * left)}"
        console.print(f"[bold][{index + 1}/{total}][/] {run.label} — {left} to run{eta}")

    def done(self, record: Any, skipped: bool) -> None:
        metric = next(iter(record.metrics))
        value = record.metrics[metric]["value"]
        if skipped:
            console.print(f"  [dim]already done[/] {record.label}: {metric} {value:.3f}")
            return
        self.finished += 1
        self.seconds += time.perf_counter() - self.started_at
        console.print(f"  [green]done[/] {record.label}: {metric} {value:.3f}")
        if record.training and record.training.get("schedule"):
            from bakeoff.finetuning.schedule import describe_schedule

            console.print(f"  [dim]schedule: {escape(describe_schedule(record.training))}[/]")
        for warning in (record.training or {}).get("warnings", []):
            console.print(f"  [yellow]warning:[/] {escape(warning)}")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
