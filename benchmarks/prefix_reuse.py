"""Label scoring with and without the shared-prefix KV cache, 8-shot SST-2, same rows.

    .venv/bin/python benchmarks/prefix_reuse.py --rows 200

Both sides run in one process on the same model, prompts and rows; the JSON holds rows/s of each,
the speed-up and whether every prediction agrees.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def measure(lm: HFCausalLM, task_file: Path, rows: int, fmt: str) -> dict[str, object]:
    task = load_task(task_file)
    splits = load_splits(task, limit_test=rows)
    settings = PromptSettings(shots=8, demos="random", format=fmt)  # type: ignore[arg-type]
    candidate = PromptStrategy("few-shot", settings).adapt(task, lm, splits.train, [], RunContext())
    out: dict[str, object] = {}
    predictions = {}
    for cached in (True, False):
        lm.cache_prefix = cached
        start = time.perf_counter()
        preds = candidate.predict(splits.test)
        seconds = time.perf_counter() - start
        predictions[cached] = [p.output for p in preds]
        name = "prefix_cache" if cached else "no_cache"
        out[name] = {"seconds": seconds, "rows_per_second": len(preds) / seconds}
    lm.cache_prefix = True
    gold = [ex.label for ex in splits.test]
    cached_rps = out["prefix_cache"]["rows_per_second"]  # type: ignore[index]
    plain_rps = out["no_cache"]["rows_per_second"]  # type: ignore[index]
    return {
        **out,
        "format": fmt,
        "rows": len(splits.test),
        "speedup": cached_rps / plain_rps,
        "same_predictions": predictions[True] == predictions[False],
        "accuracy": sum(p == g for p, g in zip(predictions[True], gold, strict=True)) / len(gold),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--task", type=Path, default=REPO / "examples/sst2/task.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/prefix_reuse.json")
    args = parser.parse_args()
    lm = HFCausalLM.load("smollm2-135m-instruct")
    results = {
        "benchmark": "prefix_reuse",
        "model": lm.name,
        "machine": machine_summary(),
        "runs": [measure(lm, args.task, args.rows, fmt) for fmt in ("plain", "chat")],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
