"""LoRA forward+backward throughput by precision, on a fixed batch (no loop overheads).

    .venv/bin/python benchmarks/lora_precision.py --steps 8

fp32; bf16 autocast over fp32 weights; bf16 autocast with the frozen weights stored in bf16
(what bakeoff's LoRA uses). Writes benchmarks/results/lora_precision.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model

from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]


def lora(base: torch.nn.Module) -> torch.nn.Module:
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    model = get_peft_model(base, config)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return model


def tokens_per_second(
    model: torch.nn.Module, ids: torch.Tensor, autocast: bool, steps: int
) -> float:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return ids.numel() * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/lora_precision.json")
    args = parser.parse_args()
    lm = HFCausalLM.load("smollm2-135m-instruct")
    torch.manual_seed(0)
    ids = torch.randint(100, 40000, (args.batch, args.length))
    results = {
        "fp32": tokens_per_second(lora(copy.deepcopy(lm.model)), ids, False, args.steps),
        "bf16_autocast": tokens_per_second(lora(copy.deepcopy(lm.model)), ids, True, args.steps),
        "bf16_frozen_weights": tokens_per_second(
            lora(copy.deepcopy(lm.model).to(torch.bfloat16)), ids, True, args.steps
        ),
    }
    out = {
        "benchmark": "lora_precision",
        "machine": machine_summary(),
        "batch": args.batch,
        "length": args.length,
        "tokens_per_second": results,
        "speedup_vs_fp32": {k: v / results["fp32"] for k, v in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
