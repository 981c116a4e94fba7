"""Label scoring, 8-shot SST-2, bundled SmolLM2: bakeoff vs lm-evaluation-harness (HF backend).

    .venv/bin/python benchmarks/lm_eval_vs_bakeoff.py --rows 200

Same weights, same prompts (bakeoff's plain 8-shot prompts with random demos), same rows, one
process: lm-eval scores each (prompt, " label") pair with `HFLM.loglikelihood`, bakeoff with its
candidate's `predict`; both in fp32 and both with bf16 weights (bakeoff's default on CPUs with
bf16 instructions; lm-eval's default is the checkpoint's dtype, fp32 here). Both pick the label
with the higher summed log-probability (the labels are single tokens). The JSON holds rows/s,
accuracy and agreement of each side.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import DTYPES, choose, machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def lm_eval_predictions(
    model: object, tokenizer: object, prompts: list[str], options: tuple[str, ...], batch: int
) -> tuple[list[int], float]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch)
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

    def accuracy(preds: list[str | None]) -> float:
        return sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold)

    n = len(gold)
    sides: dict[str, dict[str, object]] = {}
    outputs: dict[str, list[str | None]] = {}
    for precision in ("fp32", "bf16"):  # the same weights in both tools, in both precisions
        model = lm.model if precision == "fp32" else copy.deepcopy(lm.model).to(torch.bfloat16)
        picks, seconds = lm_eval_predictions(model, lm.tokenizer, prompts, options, args.batch_size)
        outputs[f"lm_eval_{precision}"] = [names[i] for i in picks]
        sides[f"lm_eval_{precision}"] = {"seconds": seconds, "rows_per_second": n / seconds}
        lm.inference_dtype = DTYPES[precision]
        start = time.perf_counter()
        outputs[f"bakeoff_{precision}"] = [p.output for p in candidate.predict(splits.test)]
        seconds = time.perf_counter() - start
        sides[f"bakeoff_{precision}"] = {"seconds": seconds, "rows_per_second": n / seconds}
    for name, preds in outputs.items():
        sides[name]["accuracy"] = accuracy(preds)
        sides[name]["agreement_with_lm_eval_fp32"] = (
            sum(a == b for a, b in zip(preds, outputs["lm_eval_fp32"], strict=True)) / n
        )

    def rate(name: str) -> float:
        return float(sides[name]["rows_per_second"])  # type: ignore[arg-type]

    default = choose("auto", "inference").precision  # lm-eval's default is fp32
    results = {
        "benchmark": "label scoring, 8-shot SST-2 (plain, random demos)",
        "model": lm.name,
        "rows": n,
        "lm_eval_version": lm_eval.__version__,
        "lm_eval_batch_size": args.batch_size,
        "machine": machine_summary(),
        **sides,
        "speedup_same_precision_fp32": rate("bakeoff_fp32") / rate("lm_eval_fp32"),
        "speedup_same_precision_bf16": rate("bakeoff_bf16") / rate("lm_eval_bf16"),
        "bakeoff_default_precision": default,  # `auto`, measured on this machine
        "speedup_defaults": rate(f"bakeoff_{default}") / rate("lm_eval_fp32"),
        "prompt_tokens_per_row": sum(lm.count_tokens(p) for p in prompts) / n,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
