"""SetFit vs bakeoff's encoder-head: same MiniLM, same labelled rows, same SST-2 test split.

    .venv/bin/pip install 'setfit>=1.1'      # `make bench` does this
    .venv/bin/python benchmarks/setfit_vs_encoder_head.py --per-class 8 64

For each labels-per-class budget both sides train on the identical stratified sample and are
scored on the full test split; the JSON holds accuracy (with bakeoff's bootstrap CI for both),
training seconds and the difference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bakeoff.evaluation.score import score_predictions
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.encoder_head import EncoderHead
from bakeoff.models.registry import resolve
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
    config = TrainConfig(epochs=8, lr=5e-5, batch_size=16, eval_every=10, eval_rows=200)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # a fresh folder: never resume an old run
        ctx = RunContext(seed=0, run_dir=Path(tmp))
        candidate = EncoderHead(config).adapt(task, None, train, validation, ctx)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return [p.output for p in candidate.predict(test)], seconds


def accuracy(task: TaskSpec, test: list[Example], predicted: list[Any]) -> dict[str, float]:
    return score_predictions(task, test, predicted)["metrics"]["accuracy"]  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--task", type=Path, default=REPO / "examples/sst2/task.yaml")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/setfit_vs_encoder_head.json"
    )
    args = parser.parse_args()
    task = load_task(args.task)
    splits = load_splits(task)
    results = []
    for n in args.per_class:
        train = per_class_sample(splits.train, n, seed=0)
        setfit_preds, setfit_s = run_setfit(train, splits.test)
        ours_preds, ours_s = run_encoder_head(task, train, splits.validation, splits.test)
        row = {
            "per_class": n,
            "setfit": {**accuracy(task, splits.test, setfit_preds), "train_seconds": setfit_s},
            "encoder_head": {**accuracy(task, splits.test, ours_preds), "train_seconds": ours_s},
        }
        row["difference"] = row["encoder_head"]["value"] - row["setfit"]["value"]  # type: ignore[index]
        results.append(row)
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "setfit_vs_encoder_head",
                "test_rows": len(splits.test),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
