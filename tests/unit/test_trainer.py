"""The shared training loop on a scripted job: early stopping, best restore, exact resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bakeoff.finetuning.batching import length_grouped_batches
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.trainer import overfitting_warning, train


class ScriptedJob:
    """A linear model with dropout fit to random data; validation scores follow a script."""

    def __init__(self, scores: list[float] | None = None, n: int = 48):
        torch.manual_seed(0)
        self.module = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(4, 1))
        self.x, self.y = torch.randn(n, 4), torch.randn(n, 1)
        self.lengths = [3 + i % 5 for i in range(n)]
        self.scores = list(scores or [])
        self.evaluations = 0

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.tensor(indices)
        return {"x": self.x[idx], "y": self.y[idx], "attention_mask": torch.ones(len(indices), 2)}

    def loss(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((module(batch["x"]) - batch["y"]) ** 2).mean()

    def evaluate(self, split: str, rows: int) -> float:
        if split == "train":
            return 1.0
        self.evaluations += 1
        if self.scores:
            return self.scores[min(self.evaluations - 1, len(self.scores) - 1)]
        return -float(self.loss(self.module.eval(), self.collate(list(range(8)))).detach())

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return [{"params": list(self.module.parameters()), "lr": lr}]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return dict(self.module.named_parameters())

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


CONFIG = TrainConfig(epochs=3, lr=0.05, batch_size=4, eval_every=2, patience=10, precision="fp32")


def test_batches_cover_every_row_once_and_group_lengths() -> None:
    lengths = [i % 7 for i in range(50)]
    batches = length_grouped_batches(lengths, 4, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(50))
    assert batches == length_grouped_batches(lengths, 4, seed=1)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread < 50  # far less padding than random batches


def test_early_stopping_restores_the_best_weights() -> None:
    job = ScriptedJob(scores=[0.5, 0.7, 0.6, 0.55, 0.5])
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def remember(_: int, stats: dict[str, float]) -> None:
        if "val_metric" in stats:
            snapshots[int(stats["step"])] = {k: v.clone() for k, v in job.trainable_state().items()}

    report = train(job, CONFIG.model_copy(update={"patience": 2}), seed=0, progress=remember)
    assert report.stopped_early
    assert report.best_step == 4 and report.best_metric == 0.7
    assert [h["step"] for h in report.history] == [2, 4, 6, 8]
    for name, value in job.trainable_state().items():
        assert torch.equal(value, snapshots[4][name])
    assert report.tokens > 0 and report.train_seconds > 0


def test_interrupted_run_resumes_exactly(tmp_path: Path) -> None:
    reference = ScriptedJob()
    train(reference, CONFIG, seed=3)

    class Interrupt(Exception):
        pass

    def kill_at_step_7(_: int, stats: dict[str, float]) -> None:
        if "loss" in stats and kill_at_step_7.steps == 7:  # type: ignore[attr-defined]
            raise Interrupt
        kill_at_step_7.steps += 1 if "loss" in stats else 0  # type: ignore[attr-defined]

    kill_at_step_7.steps = 1  # type: ignore[attr-defined]
    with pytest.raises(Interrupt):
        train(
            ScriptedJob(), CONFIG, seed=3, checkpoint_dir=tmp_path / "ckpt", progress=kill_at_step_7
        )
    assert (tmp_path / "ckpt" / "weights.safetensors").exists()

    resumed = ScriptedJob()
    report = train(resumed, CONFIG, seed=3, checkpoint_dir=tmp_path / "ckpt")
    assert report.resumed_from_step == 6
    for name, value in reference.trainable_state().items():
        torch.testing.assert_close(resumed.trainable_state()[name], value, atol=1e-6, rtol=0)


def test_overfitting_warning() -> None:
    rows = [
        {"step": s, "val_metric": v, "train_loss": t}
        for s, v, t in [(10, 0.8, 0.5), (20, 0.75, 0.3), (30, 0.7, 0.2)]
    ]
    assert "overfitting" in (overfitting_warning(rows) or "")
    rows[2]["val_metric"] = 0.9
    assert overfitting_warning(rows) is None


def test_time_budget_stops_training_after_a_final_validation() -> None:
    job = ScriptedJob()
    budget = CONFIG.model_copy(update={"max_minutes": 1e-9, "eval_every": 1000, "epochs": 50})
    report = train(job, budget, seed=0)
    assert report.stopped_by_budget and report.stopped_early
    assert report.steps == 1 and [h["step"] for h in report.history] == [1]
    unlimited = train(ScriptedJob(), CONFIG, seed=0)
    assert not unlimited.stopped_by_budget and unlimited.steps > 1
