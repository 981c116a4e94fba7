"""Label scoring on the same prompts and rows: the llama.cpp backend vs the transformers backend.

    .venv/bin/python benchmarks/llamacpp_vs_transformers.py --rows 200

SmolLM2-135M (the same Q4_1 GGUF: llama.cpp runs it quantised, transformers dequantised to
fp32), SST-2, zero-shot and 8-shot (plain, random demos). llama.cpp runs three ways: many rows
per decode (the default), one row at a time (the code before), and on the GGUF re-encoded as
F16 (`llama.cpp:smollm2-135m-instruct:f16`). The JSON holds rows/s of each side, its accuracy
and how often its predictions agree with the transformers backend.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.precision import machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/llamacpp.json")
    args = parser.parse_args()
    task = load_task(REPO / "examples/sst2/task.yaml")
    splits = load_splits(task, limit_test=args.rows)
    gold = [ex.label for ex in splits.test]
    transformers = load_model("smollm2-135m-instruct")
    options = BackendOptions(threads=args.threads, context=2048)
    llama = load_model("llama.cpp:smollm2-135m-instruct", options)
    llama_f16 = load_model("llama.cpp:smollm2-135m-instruct:f16", options)
    # llama.cpp: many rows per decode (the default), one row at a time (before), and F16
    sides = {"transformers": (transformers, True), "llama.cpp": (llama, True)}
    sides["llama.cpp_one_row_at_a_time"] = (llama, False)
    sides["llama.cpp_f16"] = (llama_f16, True)
    runs = []
    for shots in (0, 8):
        settings = PromptSettings(shots=shots, demos="random", format="plain")
        row: dict[str, Any] = {"shots": shots}
        outputs = {}
        for name, (lm, parallel) in sides.items():
            lm.parallel = parallel
            strategy = PromptStrategy("few-shot" if shots else "zero-shot", settings)
            candidate = strategy.adapt(task, lm, splits.train, [], RunContext())
            start = time.perf_counter()
            preds = [p.output for p in candidate.predict(splits.test)]
            seconds = time.perf_counter() - start
            outputs[name] = preds
            row[name] = {
                "rows_per_second": len(preds) / seconds,
                "accuracy": sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold),
            }
        for name, preds in outputs.items():
            same = zip(preds, outputs["transformers"], strict=True)
            row[name]["agreement_with_transformers"] = sum(x == y for x, y in same) / len(gold)
        row["agreement"] = row["llama.cpp"]["agreement_with_transformers"]
        row["agreement_f16"] = row["llama.cpp_f16"]["agreement_with_transformers"]
        row["llama_cpp_f16_speedup_vs_q4_1"] = (
            row["llama.cpp_f16"]["rows_per_second"] / row["llama.cpp"]["rows_per_second"]
        )
        row["llama_cpp_speedup_vs_one_row"] = (
            row["llama.cpp"]["rows_per_second"]
            / row["llama.cpp_one_row_at_a_time"]["rows_per_second"]
        )
        runs.append(row)
    results = {
        "benchmark": "label scoring: llama.cpp vs transformers backends, SST-2",
        "model": "smollm2-135m-instruct",
        "rows": len(gold),
        "machine": {**machine_summary(), "llama_cpp_threads": args.threads},
        "torch_threads": torch.get_num_threads(),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
