"""Generation speed, 3-shot SQuAD, bundled SmolLM2: bakeoff's batched generation (shared-prefix
KV cache, stop strings) vs the same without the prefix cache vs plain `model.generate`.

    .venv/bin/python benchmarks/generation_speed.py --rows 48

Same weights, same prompts (bakeoff's few-shot prompt with fixed random demos, so every prompt
starts with the same instruction and demos), same rows, greedy decoding, one process, the
precision `auto` chose. Plain `model.generate` runs one prompt at a time (the usual loop), with
the same `max_new_tokens` and only the end-of-text token to stop it; its output is then cut at
the task's stop string like bakeoff's. The JSON holds rows/s, generated tokens/s, exact match and
token F1 of each side, and how many outputs agree with plain `model.generate`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bakeoff.evaluation.text_metrics import exact_match, token_f1
from bakeoff.models.base import cut_at_stop
from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]


def plain_generate(lm: HFCausalLM, prompts: list[str], max_new: int, stop: list[str]) -> list[str]:
    texts = []
    for prompt in prompts:
        ids = torch.tensor([lm.encode_prompt(prompt)])
        with torch.inference_mode():
            out = lm.runner.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=lm.tokenizer.pad_token_id,
            )
        text = lm.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        texts.append(cut_at_stop(text, stop)[0].strip())
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--task", type=Path, default=REPO / "examples/squad/task.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/generation.json")
    args = parser.parse_args()

    lm = HFCausalLM.load("smollm2-135m-instruct", inference_precision="auto")
    task = load_task(args.task)
    splits = load_splits(task, limit_test=args.rows)
    settings = PromptSettings(shots=args.shots, demos="random")
    candidate = PromptStrategy("few-shot", settings).adapt(task, lm, splits.train, [], RunContext())
    prompts = candidate.prompts([ex.text for ex in splits.test])
    generation = task.generation
    max_new, stop = generation.max_new_tokens, list(generation.stop)
    references = [ex.references for ex in splits.test]

    outputs: dict[str, list[str]] = {}
    sides: dict[str, dict[str, float]] = {}
    for name, cache_prefix in (("bakeoff", True), ("bakeoff_no_prefix_cache", False)):
        lm.cache_prefix = cache_prefix
        start = time.perf_counter()
        generated = lm.generate(prompts, max_new_tokens=max_new, stop=stop)
        seconds = time.perf_counter() - start
        outputs[name] = [g.text for g in generated]
        tokens = sum(g.output_tokens for g in generated)
        sides[name] = {"seconds": seconds, "generated_tokens_per_second": tokens / seconds}
    lm.cache_prefix = True
    start = time.perf_counter()
    outputs["plain_generate"] = plain_generate(lm, prompts, max_new, stop)
    sides["plain_generate"] = {"seconds": time.perf_counter() - start}

    n = len(prompts)
    for name, texts in outputs.items():
        sides[name]["rows_per_second"] = n / sides[name]["seconds"]
        pairs = list(zip(texts, references, strict=True))
        sides[name]["exact_match"] = sum(exact_match(t, r) for t, r in pairs) / n
        sides[name]["token_f1"] = sum(token_f1(t, r) for t, r in pairs) / n
        same = zip(texts, outputs["plain_generate"], strict=True)
        sides[name]["agreement_with_plain_generate"] = sum(a == b for a, b in same) / n
    results = {
        "benchmark": f"generation, {args.shots}-shot SQuAD (fixed random demos), greedy",
        "model": lm.name,
        "rows": n,
        "max_new_tokens": max_new,
        "machine": machine_summary(),
        "inference_precision": lm.inference_precision,
        "prompt_tokens_per_row": sum(lm.count_tokens(p) for p in prompts) / n,
        "shared_prefix_tokens": lm.shared_prefix_length([lm.encode_prompt(p) for p in prompts]),
        **sides,
        "speedup_vs_plain_generate": sides["bakeoff"]["rows_per_second"]
        / sides["plain_generate"]["rows_per_second"],
        "speedup_prefix_cache": sides["bakeoff"]["rows_per_second"]
        / sides["bakeoff_no_prefix_cache"]["rows_per_second"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
