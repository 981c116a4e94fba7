"""The structured-output example on the third backend: SQuAD as JSON through an
OpenAI-compatible server's `response_format` (a JSON Schema), constrained and free.

    .venv/bin/python benchmarks/squad_json_openai.py --rows 200

Starts llama-cpp-python's server on 127.0.0.1 (a free port, the bundled Q4_1 GGUF, as
benchmarks/openai_concurrency.py does), writes runs/squad-json-openai/experiment.yaml — the
prompting half of examples/squad_json/experiment.yaml with `models: [openai:smollm2@URL]` and
`backend: {api: chat}` (the chat API is where servers take a JSON Schema) — runs it with
`bakeoff run`, stops the server, and prints each candidate's valid-output rate and field
scores with CIs. The server enforces the schema with its own grammar: what this measures is
what a user of that server gets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from learning_curves import run_cell
from openai_concurrency import llama_server

from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "squad-json-openai"
METRICS = ["valid_rate", "field_f1", "field_em"]


def experiment_yaml(url: str, rows: int) -> str:
    return (
        "name: squad-json-shapes-openai\n"
        f"task: {REPO / 'examples/squad_json/task.yaml'}\n"
        f"models: ['openai:smollm2@{url}']\n"
        "backend: {api: chat, cache: false, concurrency: 4}\n"
        "strategies:\n"
        "  - zero-shot\n"
        "  - {name: zero-shot, decode: free}\n"
        "  - {name: few-shot, demos: random, shots: 3}\n"
        "  - {name: few-shot, demos: random, shots: 3, decode: free}\n"
        "train_sizes: [200]\nseeds: [0]\nwordings: [0]\n"
        f"test_size: {rows}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/squad_json_openai.json"
    )
    args = parser.parse_args()
    with llama_server(args.threads) as url:
        # the model's name holds the server's port, which changes each time: no resume
        data = run_cell(OUT, experiment_yaml(url, args.rows))
    rows = []
    for run in data["runs"]:
        metrics = {m: run["metrics"][m] for m in METRICS if m in run["metrics"]}
        rows.append(
            {
                "candidate": run["label"],
                "metrics": {
                    m: [v["value"], v.get("ci_low"), v.get("ci_high")] for m, v in metrics.items()
                },
                "rows_per_second": (run.get("usage") or {}).get("rows_per_second"),
                "output_tokens_per_row": (run.get("usage") or {}).get("output_tokens_per_row"),
            }
        )
    results = {
        "benchmark": "SQuAD as JSON through an OpenAI-compatible server (llama.cpp), "
        "response_format json_schema vs free",
        "rows": args.rows,
        "machine": {**machine_summary(), "server_threads": args.threads},
        "candidates": rows,
    }
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for r in rows:
        scores = ", ".join(
            f"{m} {100 * v:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
            for m, (v, lo, hi) in r["metrics"].items()
        )
        print(f"{r['candidate']}: {scores}; {r['rows_per_second'] or 0:.2f} rows/s")


if __name__ == "__main__":
    main()
