"""Label scoring, 8-shot SST-2, bundled SmolLM2: bakeoff vs lm-evaluation-harness (HF backend).

    .venv/bin/python benchmarks/lm_eval_vs_bakeoff.py --rows 200

Same model object, same prompts (bakeoff's plain 8-shot prompts with random demos), same rows,
one process: lm-eval scores each (prompt, " label") pair with `HFLM.loglikelihood`, bakeoff with
its candidate's `predict`. Both pick the label with the higher summed log-probability (the
labels are single tokens, so bakeoff's per-token mean is the same). The JSON holds rows/s,
accuracy and prediction agreement of each side.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from bakeoff.models.hf import HFCausalLM
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def lm_eval_predictions(
    lm: HFCausalLM, prompts: list[str], options: tuple[str, ...], batch_size: int
) -> tuple[list[int], float]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size)
    requests = [
        Instance("loglikelihood", {}, (prompt, option), idx=j)
        for prompt in prompts
        for j, option in enumerate(options)
    ]
    start = time.perf_counter()
    results = harness.loglikelihood(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    k = len(options)
    picks = []
    for i in range(len(prompts)):
        scores = [results[i * k + j][0] for j in range(k)]
        picks.append(max(range(k), key=scores.__getitem__))
    return picks, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--task", type=Path, default=REPO / "examples/sst2/task.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/lm_eval.json")
    args = parser.parse_args()

    import lm_eval

    lm = HFCausalLM.load("smollm2-135m-instruct")
    task = load_task(args.task)
    splits = load_splits(task, limit_test=args.rows)
    settings = PromptSettings(shots=8, demos="random", format="plain", normalize="sum")
    candidate = PromptStrategy("few-shot", settings).adapt(task, lm, splits.train, [], RunContext())
    prompts = candidate.prompts([ex.text for ex in splits.test])
    options = candidate.score_options()  # the exact continuations bakeoff scores
    gold = [ex.label for ex in splits.test]
    names = task.label_names

    picks, harness_seconds = lm_eval_predictions(lm, prompts, options, args.batch_size)
    harness = [names[i] for i in picks]
    start = time.perf_counter()
    ours = [p.output for p in candidate.predict(splits.test)]
    ours_seconds = time.perf_counter() - start

    def accuracy(preds: list[str | None]) -> float:
        return sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold)

    n = len(gold)
    results = {
        "benchmark": "label scoring, 8-shot SST-2 (plain, random demos)",
        "model": lm.name,
        "rows": n,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "lm_eval": {
            "version": lm_eval.__version__,
            "batch_size": args.batch_size,
            "seconds": harness_seconds,
            "rows_per_second": n / harness_seconds,
            "accuracy": accuracy(harness),
        },
        "bakeoff": {
            "seconds": ours_seconds,
            "rows_per_second": n / ours_seconds,
            "accuracy": accuracy(ours),
        },
        "speedup": harness_seconds / ours_seconds,
        "agreement": sum(a == b for a, b in zip(harness, ours, strict=True)) / n,
        "prompt_tokens_per_row": sum(lm.count_tokens(p) for p in prompts) / n,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
