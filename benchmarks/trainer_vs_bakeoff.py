"""LoRA fine-tuning, SST-2, bundled SmolLM2: bakeoff's loop vs a plain transformers Trainer + PEFT
with default settings — tokens/s, peak memory and accuracy on the same rows.

    .venv/bin/python benchmarks/trainer_vs_bakeoff.py --train 512 --test 200

Each side runs in its own process (so peak RSS is its own), on the same training rows, prompts,
answer tokens (loss on the answer only), LoRA settings (r 8, alpha 16, dropout 0.05, attention
projections), learning rate (2e-4), batch size (8) and one epoch. Accuracy is bakeoff's label
scoring of the same test rows with each side's trained model, in each side's default precision
(bakeoff: bf16 frozen weights + fp32 adapter where the CPU has bf16; Trainer: fp32).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bakeoff.precision import machine_summary

REPO = Path(__file__).resolve().parents[1]
TASK = REPO / "examples/sst2/task.yaml"
# both sides: the attention projections, as every figure of this benchmark so far
LORA: dict[str, Any] = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "attention"}


def setup(train_rows: int, test_rows: int, precision: str = "fp32") -> tuple[Any, Any, Any, Any]:
    from bakeoff.models.hf import HFCausalLM
    from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
    from bakeoff.strategy import RunContext
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(TASK)
    splits = load_splits(task, train_size=train_rows, limit_test=test_rows)
    lm = HFCausalLM.load("smollm2-135m-instruct", inference_precision=precision)
    candidate = PromptStrategy("zero-shot", PromptSettings(format="plain")).adapt(
        task, lm, splits.train, [], RunContext()
    )
    return task, splits, lm, candidate


def accuracy(candidate: Any, splits: Any) -> float:
    preds = candidate.predict(splits.test)
    return sum(p.output == ex.label for p, ex in zip(preds, splits.test, strict=True)) / len(preds)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_trainer(train_rows: int, test_rows: int) -> dict[str, Any]:
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from bakeoff.finetuning.causal_job import CausalJob
    from bakeoff.finetuning.methods import lora_targets

    task, splits, lm, candidate = setup(train_rows, test_rows)
    job = CausalJob(lm, candidate, task, splits.train, [], 256, 0)  # the same rows and labels
    rows = [{"input_ids": ids, "labels": labels} for ids, labels in job.rows]
    config = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=lora_targets(lm.model, LORA["target_modules"]),
        task_type="CAUSAL_LM",
    )
    lm.model = get_peft_model(lm.model, config)
    args = TrainingArguments(
        output_dir=str(Path("/tmp/bakeoff-trainer-bench")),
        per_device_train_batch_size=8,
        learning_rate=2e-4,
        num_train_epochs=1,
        report_to=[],
        save_strategy="no",
        logging_steps=10_000,
        seed=0,
    )
    collator = DataCollatorForSeq2Seq(lm.tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=lm.model, args=args, train_dataset=rows, data_collator=collator)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tokens = sum(len(r["input_ids"]) for r in rows)  # non-pad tokens, as bakeoff counts them
    lm.model.eval()
    return {
        "side": "transformers Trainer + PEFT (defaults)",
        "train_seconds": seconds,
        "tokens": tokens,
        "tokens_per_second": tokens / seconds,
        "precision": "bf16" if args.bf16 else "fp32",
        "peak_rss_mb": peak_mb(),
        "accuracy": accuracy(candidate, splits),
    }


def run_bakeoff_plain_steps(train_rows: int, test_rows: int) -> dict[str, Any]:
    """bakeoff's loop as it was before finetuning/step_speed.py: PyTorch's default attention
    kernel, PEFT's input casts, a dropout draw per adapter."""
    from contextlib import contextmanager

    from bakeoff.finetuning import trainer

    class PlainSteps:
        def __init__(self, module: Any):
            pass

        @contextmanager
        def forward(self, *_: Any) -> Any:
            yield "default"

    trainer.FastSteps = PlainSteps  # type: ignore[assignment,misc]
    return {**run_bakeoff(train_rows, test_rows), "side": "bakeoff, steps before step_speed"}


def run_bakeoff(train_rows: int, test_rows: int) -> dict[str, Any]:
    from bakeoff.finetuning.config import LoraSettings, TrainConfig
    from bakeoff.strategy import RunContext
    from bakeoff.strategy_registry import resolve

    task, splits, lm, _ = setup(train_rows, test_rows, "auto")  # bakeoff's defaults
    config = TrainConfig(
        epochs=1, lr=2e-4, batch_size=8, eval_every=10_000, eval_rows=1, eval_at_start=False
    )
    lora = LoraSettings.model_validate(LORA)
    training = {"train": config.model_dump(), "lora": lora.model_dump()}
    strategy = resolve("lora").build({"format": "plain", "training": training})
    tuned = strategy.adapt(task, lm, splits.train, splits.validation[:1], RunContext())
    report = tuned.training or {}
    return {
        "side": "bakeoff",
        "train_seconds": report["train_seconds"],
        "tokens": report["tokens"],
        "tokens_per_second": report["tokens_per_second"],
        "precision": report["precision"],
        "peak_rss_mb": peak_mb(),
        "accuracy": accuracy(tuned, splits),
    }


SIDES = {"trainer": run_trainer, "bakeoff-plain": run_bakeoff_plain_steps, "bakeoff": run_bakeoff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--side", choices=list(SIDES))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/trainer.json")
    args = parser.parse_args()
    if args.side:  # a child process: one side, JSON on stdout's last line
        run = SIDES[args.side]
        print(json.dumps(run(args.train, args.test)))
        return
    sides = {}
    for side in SIDES:
        cmd = [sys.executable, __file__, "--side", side, "--train", str(args.train)]
        done = subprocess.run(
            [*cmd, "--test", str(args.test)], capture_output=True, text=True, check=True
        )
        sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
    results = {
        "benchmark": "LoRA fine-tuning, SST-2, SmolLM2-135M, one epoch",
        "train_rows": args.train,
        "test_rows": args.test,
        "machine": machine_summary(),
        **sides,
        "tokens_per_second_ratio": sides["bakeoff"]["tokens_per_second"]
        / sides["trainer"]["tokens_per_second"],
        "peak_rss_ratio": sides["bakeoff"]["peak_rss_mb"] / sides["trainer"]["peak_rss_mb"],
        "step_speed_gain": sides["bakeoff"]["tokens_per_second"]
        / sides["bakeoff-plain"]["tokens_per_second"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
