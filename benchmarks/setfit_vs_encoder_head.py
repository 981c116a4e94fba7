"""SetFit vs bakeoff's encoder-head: same MiniLM, same labelled rows, same SST-2 test split.

    .venv/bin/pip install 'setfit>=1.1'      # `make bench` does this
    .venv/bin/python benchmarks/setfit_vs_encoder_head.py --per-class 8 64 --seeds 0 1 2 3 4

For each labels-per-class budget and each sample seed both sides train on the identical
stratified sample and are scored on the full test split; the JSON holds accuracy (with bakeoff's
bootstrap CI for both), training seconds and the difference per seed, and the mean over seeds.
Neither side sees other labels: encoder-head trains a fixed schedule and keeps its last weights
(no early stopping on the validation split, which SetFit does not get either).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bakeoff.evaluation.score import score_predictions
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.encoder_head import EncoderHead
from bakeoff.models.registry import resolve
from bakeoff.precision import machine_summary
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec, load_task
from bakeoff.task.split import stratified_sample

REPO = Path(__file__).resolve().parents[1]


def per_class_sample(rows: list[Example], per_class: int, seed: int) -> list[Example]:
    labels = sorted({ex.label or "" for ex in rows})
    return [
        ex
        for label in labels
        for ex in stratified_sample([r for r in rows if r.label == label], per_class, seed)
    ]


def run_setfit(train: list[Example], test: list[Example]) -> tuple[list[str], float]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(resolve("minilm-l6").path))
    data = Dataset.from_dict({"text": [e.text for e in train], "label": [e.label for e in train]})
    with tempfile.TemporaryDirectory() as tmp:  # SetFit writes checkpoints: not into the repo
        # batch 16 and 1 epoch are SetFit's defaults for the contrastive phase
        args = TrainingArguments(output_dir=tmp, batch_size=16, num_epochs=1)
        trainer = Trainer(model=model, args=args, train_dataset=data)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return [str(p) for p in model.predict([e.text for e in test])], seconds


def run_encoder_head(
    task: TaskSpec, train: list[Example], validation: list[Example], test: list[Example]
) -> tuple[list[str | None], float]:
    # eval_every past the last step: one evaluation at the end, so no checkpoint is chosen on
    # validation labels; the settings are EncoderHeadSettings' defaults
    config = TrainConfig(
        epochs=8, lr=5e-5, batch_size=16, eval_every=10_000, eval_rows=200, eval_at_start=False
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # a fresh folder: never resume an old run
        ctx = RunContext(seed=0, run_dir=Path(tmp))
        candidate = EncoderHead(config).adapt(task, None, train, validation, ctx)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return [p.output for p in candidate.predict(test)], seconds


def accuracy(task: TaskSpec, test: list[Example], predicted: list[Any]) -> dict[str, float]:
    return score_predictions(task, test, predicted)["metrics"]["accuracy"]  # type: ignore[no-any-return]


def summarise(per_class: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over sample seeds, and on how many seeds encoder-head came out ahead."""

    def spread(side: str, key: str) -> dict[str, float]:
        values = [float(r[side][key]) for r in rows]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "sd": sd}

    return {
        "per_class": per_class,
        "seeds": len(rows),
        "setfit": {
            "accuracy": spread("setfit", "value"),
            "seconds": spread("setfit", "train_seconds"),
        },
        "encoder_head": {
            "accuracy": spread("encoder_head", "value"),
            "seconds": spread("encoder_head", "train_seconds"),
        },
        "mean_difference": statistics.fmean(float(r["difference"]) for r in rows),
        "encoder_head_ahead": sum(float(r["difference"]) > 0 for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--task", type=Path, default=REPO / "examples/sst2/task.yaml")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/setfit_vs_encoder_head.json"
    )
    args = parser.parse_args()
    task = load_task(args.task)
    splits = load_splits(task)
    results, summary = [], []
    for n in args.per_class:
        rows = []
        for seed in args.seeds:
            train = per_class_sample(splits.train, n, seed=seed)
            setfit_preds, setfit_s = run_setfit(train, splits.test)
            ours_preds, ours_s = run_encoder_head(task, train, splits.validation, splits.test)
            setfit = {**accuracy(task, splits.test, setfit_preds), "train_seconds": setfit_s}
            ours = {**accuracy(task, splits.test, ours_preds), "train_seconds": ours_s}
            row = {"per_class": n, "seed": seed, "setfit": setfit, "encoder_head": ours}
            row["difference"] = ours["value"] - setfit["value"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        results += rows
        summary.append(summarise(n, rows))
        print(json.dumps(summary[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "setfit_vs_encoder_head",
                "machine": machine_summary(),
                "test_rows": len(splits.test),
                "seeds": args.seeds,
                "summary": summary,
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
