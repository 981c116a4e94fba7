"""QA and generation measured (issue 13 item 4): SQuAD (exact match, token F1) and E2E NLG
(BLEU, ROUGE-L) — zero-shot, few-shot with nearest-neighbour demos, LoRA and LoRA+few-shot at
two or more train sizes, every metric with its 95% bootstrap CI, on the whole test split.

    .venv/bin/python benchmarks/generation_tasks.py --dataset squad e2e_nlg --train-sizes 128 512
    .venv/bin/python benchmarks/generation_tasks.py --dataset squad --train-sizes 128 \\
        --strategies zero-shot "{name: few-shot, demos: knn, shots: 3}"   # a part of the grid
    .venv/bin/python benchmarks/generation_tasks.py --table

Each dataset is one real `bakeoff run` of an experiment file written under
runs/generation-tasks/ (an interrupted benchmark resumes where it stopped; rerunning with more
sizes or strategies adds only the new runs), the default schedule with `eval_rows` and
`max_train_minutes` capped (a generation evaluation decodes every validation row). The JSON
holds each run's metrics with CIs, training seconds and steps, rows/s and the CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from learning_curves import run_cell

from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "generation-tasks"
DATASETS = {"squad": ["exact_match", "token_f1"], "e2e_nlg": ["bleu", "rouge_l"]}
SCALE = {"bleu": 1.0}  # BLEU is already 0-100; the others are fractions, shown as percent
STRATEGIES = [
    "zero-shot",
    "{name: few-shot, demos: knn, shots: 3}",
    "lora",
    "{name: lora+few-shot, demos: knn, shots: 3}",
]


def experiment_yaml(
    dataset: str, strategies: list[str], sizes: list[int], test_size: int, args: Any
) -> str:
    entries = "".join(f"  - {s}\n" for s in strategies)
    return (
        f"name: gen-{dataset}\n"
        f"task: {REPO / 'examples' / dataset / 'task.yaml'}\n"
        f"strategies:\n{entries}"
        f"train_sizes: {sizes}\n"
        "seeds: [0]\n"
        "wordings: [0]\n"
        f"test_size: {test_size}\n"
        f"training: {{eval_rows: {args.eval_rows}}}\n"
        f"budget: {{max_train_minutes: {args.max_train_minutes}, max_runs: 40}}\n"
    )


def summarise(run: dict[str, Any], cpu: str) -> dict[str, Any]:
    training = run.get("training") or {}
    settings = run.get("settings") or {}
    demos = f" {settings.get('demos')}×{settings['shots']}" if settings.get("shots") else ""
    return {
        "candidate": f"{run['strategy']}{demos}",
        "train_size": run["train_size"],
        "metrics": {
            name: [m["value"], m.get("ci_low"), m.get("ci_high")]
            for name, m in run["metrics"].items()
        },
        "rows_per_second": (run.get("usage") or {}).get("rows_per_second"),
        "train_seconds": training.get("train_seconds"),
        "steps": training.get("steps"),
        "best_step": training.get("best_step"),
        "flags": training.get("flags", []),
        "cpu": cpu,
    }


def markdown(cells: dict[str, Any]) -> str:
    lines: list[str] = []
    for dataset, cell in cells.items():
        metrics = DATASETS[dataset]
        cpus = sorted({r["cpu"] for r in cell["runs"]})
        lines += [
            "",
            f"**{dataset}** ({cell['test_rows']} test rows; {', '.join(cpus)})",
            "",
            "| candidate | train rows | " + " | ".join(metrics) + " | rows/s | training |",
            "|---|---|" + "---|" * len(metrics) + "---|---|",
        ]
        order = sorted(cell["runs"], key=lambda r: (r["train_size"] or 0, r["candidate"]))
        for r in order:
            scores = []
            for name in metrics:
                value, low, high = r["metrics"].get(name, [None, None, None])
                k = SCALE.get(name, 100.0)
                scores.append(
                    "—" if value is None else f"{k * value:.1f} [{k * low:.1f}, {k * high:.1f}]"
                )
            trained = (
                f"{r['steps']} steps, {r['train_seconds']:.0f} s"
                + (f" ⚑ {', '.join(r['flags'])}" if r["flags"] else "")
                if r["train_seconds"]
                else "—"
            )
            rate = f"{r['rows_per_second']:.2f}" if r["rows_per_second"] else "—"
            lines.append(
                f"| {r['candidate']} | {r['train_size'] or '—'} | "
                + " | ".join(scores)
                + f" | {rate} | {trained} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--test-size", type=int, default=500, help="500: the whole test split.")
    parser.add_argument("--eval-rows", type=int, default=50)
    parser.add_argument("--max-train-minutes", type=float, default=12)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/generation_tasks.json"
    )
    parser.add_argument("--table", action="store_true", help="Print the tables from --out.")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))["cells"]))
        return

    machine = machine_summary()
    cells: dict[str, Any] = {}
    if args.out.exists():
        cells = json.loads(args.out.read_text(encoding="utf-8")).get("cells", {})
    for dataset in args.dataset:
        text = experiment_yaml(dataset, args.strategies, args.train_sizes, args.test_size, args)
        data = run_cell(OUT / dataset, text)
        runs = [summarise(run, machine["cpu"]) for run in data["runs"]]
        earlier = cells.get(dataset, {})
        latest = {(r["candidate"], r["train_size"]): r for r in earlier.get("runs", [])}
        latest.update({(r["candidate"], r["train_size"]): r for r in runs})  # the newest wins
        cells[dataset] = {
            "test_rows": args.test_size,
            "wall_seconds": (earlier.get("wall_seconds") or 0) + data["wall_seconds"],
            "runs": list(latest.values()),
        }
        args.out.write_text(
            json.dumps({"machine": machine, "cells": cells}, indent=2) + "\n", encoding="utf-8"
        )
        print(markdown({dataset: cells[dataset]}), flush=True)


if __name__ == "__main__":
    main()
