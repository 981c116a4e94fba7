"""Achieved GFLOP/s in label scoring and LoRA training, as a fraction of this machine's measured
matmul peak (fp32 and bf16).

    .venv/bin/python benchmarks/flops_utilisation.py

Peak: the best of several 2048×2048 matmuls per dtype on all threads. Scoring: 2·N FLOPs per
prompt token (the work a cache-less forward would do; prefix reuse makes the effective rate
higher than the hardware does). Training: the ledger's 4·N + 6·N_trainable per token, over the
loop's optimisation time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bakeoff.finetuning.config import LoraSettings, TrainConfig
from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.strategy_registry import resolve
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 8) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/flops.json")
    args = parser.parse_args()
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    task = load_task(REPO / "examples/sst2/task.yaml")
    splits = load_splits(task, train_size=args.train, limit_test=args.rows)
    lm = HFCausalLM.load("smollm2-135m-instruct", inference_precision="auto")
    scoring_precision = lm.inference_precision
    scoring = {}
    for shots in (0, 8):
        settings = PromptSettings(shots=shots, demos="random", format="plain")
        strategy = PromptStrategy("few-shot" if shots else "zero-shot", settings)
        candidate = strategy.adapt(task, lm, splits.train, [], RunContext())
        start = time.perf_counter()
        preds = candidate.predict(splits.test)
        seconds = time.perf_counter() - start
        tokens = sum(p.prompt_tokens for p in preds)
        gflops = 2 * lm.n_parameters * tokens / seconds / 1e9
        scoring[f"{shots}-shot"] = {
            "precision": scoring_precision,
            "prompt_tokens_per_second": tokens / seconds,
            "effective_gflops": gflops,
            "fraction_of_peak": gflops / peak[scoring_precision],
        }
    config = TrainConfig(
        epochs=1, max_steps=24, batch_size=8, eval_every=10_000, eval_rows=1, eval_at_start=False
    )
    # the attention projections, as every figure of this benchmark so far
    lora = LoraSettings(target_modules="attention")
    training = {"train": config.model_dump(), "lora": lora.model_dump()}
    strategy = resolve("lora").build({"format": "plain", "training": training})
    tuned = strategy.adapt(task, lm, splits.train, splits.validation[:1], RunContext())
    report = tuned.training or {}
    train_gflops = report["flops"] / report["train_seconds"] / 1e9
    precision = report["precision"]
    results = {
        "benchmark": "achieved GFLOP/s vs matmul peak",
        "model": lm.name,
        "machine": machine_summary(),
        "matmul_peak_gflops": peak,
        "scoring": scoring,
        "lora_training": {
            "precision": precision,
            "tokens_per_second": report["tokens_per_second"],
            "gflops": train_gflops,
            "fraction_of_peak": train_gflops / peak[precision],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
