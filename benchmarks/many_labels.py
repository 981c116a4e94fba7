"""Many-label scoring, zero-shot Banking77 (77 multi-token intents), bundled SmolLM2: option
trees vs one sequence per option (the code before option trees) vs lm-evaluation-harness.

    .venv/bin/python benchmarks/many_labels.py --rows 200 --slow-rows 24

Same weights, same prompts (bakeoff's zero-shot prompt, which lists the intents), same options
(" " + the intent's words), one process. Every side picks the option with the highest summed
log-probability. The two slow sides (one sequence per option; lm-eval's `loglikelihood` on
every (prompt, option) pair) run on the first `--slow-rows` rows; agreement is measured there.
The JSON holds rows/s, accuracy (with a bootstrap 95% CI on the fast side's rows) and agreement.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bakeoff.evaluation.stats import bootstrap
from bakeoff.models.base import ScoreRequest
from bakeoff.models.hf import HFCausalLM
from bakeoff.models.hf_tree import option_tree
from bakeoff.precision import DTYPES, machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)


def timed(run: Callable[[], list[int]], rows: int) -> tuple[list[int], dict[str, object]]:
    start = time.perf_counter()
    picks = run()
    seconds = time.perf_counter() - start
    return picks, {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def accuracy(picks: list[int], gold: list[int]) -> dict[str, float]:
    hits = np.array([p == g for p, g in zip(picks, gold, strict=False)], dtype=float)
    return bootstrap(lambda rows: float(hits[rows].mean()), len(hits)).as_dict()


def bakeoff_picks(lm: HFCausalLM, prompts: list[str], options: tuple[str, ...]) -> list[int]:
    results = lm.score([ScoreRequest(p, options) for p in prompts])
    return [argmax(list(r.logprobs)) for r in results]


def lm_eval_picks(
    model: object, tokenizer: object, prompts: list[str], options: tuple[str, ...], batch: int
) -> list[int]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch)
    requests = [
        Instance("loglikelihood", {}, (prompt, option), idx=j)
        for prompt in prompts
        for j, option in enumerate(options)
    ]
    results = harness.loglikelihood(requests, disable_tqdm=True)
    k = len(options)
    return [argmax([results[i * k + j][0] for j in range(k)]) for i in range(len(prompts))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--slow-rows", type=int, default=24)
    parser.add_argument("--lm-eval-batch-size", type=int, default=8)
    parser.add_argument("--task", type=Path, default=REPO / "examples/banking77/task.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/many_labels.json")
    args = parser.parse_args()

    import lm_eval

    lm = HFCausalLM.load("smollm2-135m-instruct")
    task = load_task(args.task)
    splits = load_splits(task, limit_test=args.rows)
    candidate = PromptStrategy("zero-shot", PromptSettings(shots=0)).adapt(
        task, lm, splits.train, [], RunContext()
    )
    prompts = candidate.prompts([ex.text for ex in splits.test])
    options = candidate.score_options()
    names = task.label_names
    gold = [names.index(ex.label) for ex in splits.test]
    slow = min(args.slow_rows, len(prompts))

    picks: dict[str, list[int]] = {}
    sides: dict[str, dict[str, object]] = {}
    for precision in ("fp32", "bf16"):
        lm.inference_dtype = DTYPES[precision]
        lm.tree_scoring = True
        picks[f"trees_{precision}"], sides[f"trees_{precision}"] = timed(
            lambda: bakeoff_picks(lm, prompts, options), len(prompts)
        )
        lm.tree_scoring = False
        picks[f"one_per_option_{precision}"], sides[f"one_per_option_{precision}"] = timed(
            lambda: bakeoff_picks(lm, prompts[:slow], options), slow
        )
    lm.tree_scoring = True
    model = lm.model  # lm-eval's default: the checkpoint's dtype, fp32 here
    picks["lm_eval_fp32"], sides["lm_eval_fp32"] = timed(
        lambda: lm_eval_picks(
            model, lm.tokenizer, prompts[:slow], options, args.lm_eval_batch_size
        ),
        slow,
    )

    for name, chosen in picks.items():
        sides[name]["accuracy"] = accuracy(chosen, gold)
        sides[name]["agreement_with_trees_same_rows"] = float(
            np.mean(
                [a == b for a, b in zip(chosen[:slow], picks["trees_fp32"][:slow], strict=True)]
            )
        )

    def rate(name: str) -> float:
        return float(sides[name]["rows_per_second"])  # type: ignore[arg-type]

    tokens = [tuple(lm.encode_continuation(o)) for o in options]
    results = {
        "benchmark": "label scoring, zero-shot Banking77 (77 intents, summed log-probability)",
        "model": lm.name,
        "rows": len(prompts),
        "slow_rows": slow,
        "lm_eval_version": lm_eval.__version__,
        "lm_eval_batch_size": args.lm_eval_batch_size,
        "machine": machine_summary(),
        "prompt_tokens_per_row": sum(lm.count_tokens(p) for p in prompts) / len(prompts),
        "option_tokens": sum(len(t) for t in tokens),
        "tree_nodes_run_per_row": len(option_tree(tuple(tokens)).node_tokens),
        **sides,
        "speedup_trees_vs_one_per_option_fp32": rate("trees_fp32") / rate("one_per_option_fp32"),
        "speedup_trees_vs_one_per_option_bf16": rate("trees_bf16") / rate("one_per_option_bf16"),
        "speedup_trees_fp32_vs_lm_eval_fp32": rate("trees_fp32") / rate("lm_eval_fp32"),
        "speedup_trees_bf16_vs_lm_eval_fp32": rate("trees_bf16") / rate("lm_eval_fp32"),
        "torch_threads": torch.get_num_threads(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
