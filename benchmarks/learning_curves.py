"""Learning curves: fine-tuning against zero-shot at 8, 32 and 128 labels per class (and `all`).

    .venv/bin/python benchmarks/learning_curves.py --dataset sst2 trec \\
        --per-class 8 32 128 --strategies lora encoder-head --seeds-small 3
    .venv/bin/python benchmarks/learning_curves.py --dataset sst2 --per-class 8 \\
        --strategies prompt-tuning --no-zero-shot --tag pt     # more strategies, same cells
    .venv/bin/python benchmarks/learning_curves.py --dataset trec --per-class all \
        --no-zero-shot                                         # the whole train split

Each (dataset, labels per class) cell is a real `bakeoff run` of an experiment file written
under runs/learning-curves/ (so an interrupted benchmark resumes where it stopped, and every
run has its report), with the default schedule (finetuning/schedule.py) and no training
settings given. Train size = labels per class × classes, a stratified sample of the train split
(proportional: on TREC the rare class gets fewer); validation is the task's own split; the test
rows are one stratified sample shared by every cell. The smallest size runs `--seeds-small`
seeds, the others one. The JSON holds, per cell, each run's test score with its 95% CI, the
training seconds, the steps chosen and any training flags, and the majority-class baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "learning-curves"
CLASSES = {"sst2": 2, "ag_news": 4, "trec": 6, "banking77": 77}
PerClass = int | str  # labels per class, or "all": the whole train split


def per_class_arg(text: str) -> PerClass:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        message = f"{text!r}: a number of labels per class, or all"
        raise argparse.ArgumentTypeError(message) from None


def size_order(per_class: PerClass) -> float:
    return float("inf") if per_class == "all" else float(per_class)


def experiment_yaml(
    dataset: str, per_class: PerClass, strategies: list[str], seeds: list[int], test_size: int
) -> str:
    rows = per_class if per_class == "all" else int(per_class) * CLASSES[dataset]
    return (
        f"name: lc-{dataset}-{per_class}\n"
        f"task: {REPO / 'examples' / dataset / 'task.yaml'}\n"
        f"strategies: [{', '.join(strategies)}]\n"
        f"train_sizes: [{rows}]\n"
        f"seeds: {seeds}\n"
        f"test_size: {test_size}\n"
        "budget: {max_runs: 40}\n"
    )


def run_cell(folder: Path, text: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment.yaml").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    bakeoff = [str(Path(sys.executable).parent / "bakeoff"), "run", str(folder / "experiment.yaml")]
    subprocess.run([*bakeoff, "--out", str(folder), "--quiet"], check=True)
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    data["wall_seconds"] = time.perf_counter() - started
    return data


def summarise(run: dict[str, Any], cpu: str) -> dict[str, Any]:
    metric = "accuracy" if "accuracy" in run["metrics"] else next(iter(run["metrics"]))
    value = run["metrics"][metric]
    training = run.get("training") or {}
    schedule = training.get("schedule") or {}
    return {
        "strategy": run["strategy"],
        "seed": run["seed"],
        "train_size": run["train_size"],
        "metric": metric,
        "value": value["value"],
        "ci": [value.get("ci_low"), value.get("ci_high")],
        "train_seconds": training.get("train_seconds"),
        "eval_seconds": training.get("eval_seconds"),
        "steps": training.get("steps"),
        "planned_steps": schedule.get("steps"),
        "best_step": training.get("best_step"),
        "flags": training.get("flags", []),
        "cpu": cpu,  # seconds compare only within one CPU
    }


def majority_baseline(data: dict[str, Any]) -> float | None:
    counts = Counter((data.get("data") or {}).get("test_labels", {}))
    return max(counts.values()) / sum(counts.values()) if counts else None


def cpu_marks(cells: dict[str, Any], default_cpu: str) -> dict[str, str]:
    """A mark per CPU when runs come from more than one (their seconds do not compare)."""
    cpus = sorted({r.get("cpu", default_cpu) for c in cells.values() for r in c["runs"]})
    return (
        {cpu: "" for cpu in cpus}
        if len(cpus) < 2
        else {cpu: f" ({chr(ord('A') + i)})" for i, cpu in enumerate(cpus)}
    )


def markdown(cells: dict[str, Any], default_cpu: str = "") -> str:
    """One table per dataset: rows = strategies, columns = labels per class; each cell the
    mean test accuracy over seeds with the first seed's 95% CI, and the training seconds
    (marked with the CPU they were measured on when the file holds more than one)."""
    marks = cpu_marks(cells, default_cpu)
    lines = [f"{mark.strip()} {cpu}" for cpu, mark in marks.items() if mark]
    for dataset in sorted({c["dataset"] for c in cells.values()}):
        mine = sorted(
            (c for c in cells.values() if c["dataset"] == dataset),
            key=lambda c: size_order(c["per_class"]),
        )
        sizes = [c["per_class"] for c in mine]
        majority = next((c["majority"] for c in mine if c["majority"]), None)
        lines += [
            "",
            f"**{dataset}** (majority class {100 * (majority or 0):.1f}%)",
            "",
            "| strategy | "
            + " | ".join(
                f"{n if n == 'all' else f'{n}/class'} ({c['rows']} rows)"
                for n, c in zip(sizes, mine, strict=True)
            )
            + " |",
            "|---|" + "---|" * len(sizes),
        ]
        strategies = sorted({r["strategy"] for c in mine for r in c["runs"]})
        for strategy in strategies:
            row = []
            for cell in mine:
                runs = sorted(
                    (r for r in cell["runs"] if r["strategy"] == strategy), key=lambda r: r["seed"]
                )
                if not runs:
                    row.append("—")
                    continue
                values = [r["value"] for r in runs]
                mean = sum(values) / len(values)
                first = min(runs, key=lambda r: r["seed"])
                low, high = first["ci"]
                seconds = [r["train_seconds"] for r in runs if r["train_seconds"]]
                text = f"{100 * mean:.1f}"
                if len(values) > 1:
                    text += f" (seeds {', '.join(f'{100 * v:.1f}' for v in values)})"
                text += f" [{100 * low:.1f}, {100 * high:.1f}]"
                if seconds:
                    cpus = sorted({marks[r.get("cpu", default_cpu)] for r in runs})
                    text += f", {sum(seconds) / len(seconds):.0f} s{''.join(cpus)}"
                flags = sorted({f for r in runs for f in r["flags"]})
                text += f" ⚑ {', '.join(flags)}" if flags else ""
                row.append(text)
            lines.append(f"| {strategy} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", nargs="+", default=["sst2", "trec"], choices=list(CLASSES))
    parser.add_argument(
        "--per-class",
        nargs="+",
        type=per_class_arg,
        default=[8, 32, 128],
        help="Labels per class, or all (the whole train split).",
    )
    parser.add_argument("--strategies", nargs="+", default=["lora", "encoder-head"])
    parser.add_argument("--seeds-small", type=int, default=3)
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        help="These seeds at every size (instead of --seeds-small at the smallest, 0 elsewhere).",
    )
    parser.add_argument(
        "--name",
        help="The table row for these runs when a strategy entry carries settings (e.g. "
        "--strategies '{name: lora, lora: {r: 16}}' --name 'lora r=16'); default: the strategy.",
    )
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--zero-shot", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/learning_curves.json"
    )
    parser.add_argument(
        "--tag",
        default="",
        help="Folder suffix: add strategies to measured cells without rerunning their runs "
        "(the cell's JSON merges runs by strategy and seed).",
    )
    parser.add_argument("--table", action="store_true", help="Print the tables from --out.")
    args = parser.parse_args()
    if args.table:
        data = json.loads(args.out.read_text(encoding="utf-8"))
        print(markdown(data["cells"], data["machine"]["cpu"]))
        return

    results: dict[str, Any] = {}
    machine = machine_summary()
    if args.out.exists():  # add to earlier cells (other datasets or sizes)
        earlier = json.loads(args.out.read_text(encoding="utf-8"))
        results = earlier.get("cells", {})
        for cell in results.values():  # runs from before "cpu" was recorded: the file's CPU
            for r in cell["runs"]:
                r.setdefault("cpu", earlier["machine"]["cpu"])
    smallest = min(args.per_class, key=size_order)
    for dataset in args.dataset:
        for per_class in args.per_class:
            seeds = args.seeds or (list(range(args.seeds_small)) if per_class == smallest else [0])
            strategies = list(args.strategies)
            if args.zero_shot and per_class == smallest:
                strategies.append("zero-shot")  # no train axis: one run per dataset
            text = experiment_yaml(dataset, per_class, strategies, seeds, args.test_size)
            suffix = f"-{args.tag}" if args.tag else ""
            data = run_cell(OUT / f"{dataset}-{per_class}{suffix}", text)
            cell = results.get(f"{dataset}/{per_class}", {"runs": []})
            # the store keeps a run redone under changed defaults beside the old one: the
            # newest per strategy and seed counts
            summaries = [summarise(run, machine["cpu"]) for run in data["runs"]]
            if args.name:  # a strategy with settings: its own row, beside the default's
                for r in summaries:
                    if r["strategy"] != "zero-shot":
                        r["strategy"] = args.name
            latest = {(r["strategy"], r["seed"]): r for r in summaries}
            new = list(latest.values())
            replaced = {(r["strategy"], r["seed"]) for r in new}
            kept = [r for r in cell["runs"] if (r["strategy"], r["seed"]) not in replaced]
            results[f"{dataset}/{per_class}"] = {
                "dataset": dataset,
                "per_class": per_class,
                "rows": next(
                    (r["train_size"] for r in summaries if r["train_size"]),
                    cell.get("rows") or int(per_class) * CLASSES[dataset],
                ),
                "wall_seconds": (cell.get("wall_seconds") or 0) + data["wall_seconds"],
                "majority": majority_baseline(data),
                "runs": kept + new,  # a cell grows by folders (--tag): each run once
            }
            args.out.write_text(
                json.dumps({"machine": machine, "cells": results}, indent=2) + "\n",
                encoding="utf-8",
            )
            for r in results[f"{dataset}/{per_class}"]["runs"]:
                low, high = r["ci"]
                print(
                    f"{dataset} {per_class}/class {r['strategy']} seed {r['seed']}: "
                    f"{100 * r['value']:.1f} [{100 * (low or 0):.1f}, {100 * (high or 0):.1f}] "
                    f"steps {r['steps']} train {r['train_seconds'] or 0:.0f} s {r['flags']}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
