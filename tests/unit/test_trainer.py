"""The shared training loop on a scripted job: early stopping, best restore, exact resume, the
schedule chosen by data size, and the collapse / no-gain / flat-validation flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bakeoff.finetuning.batching import length_grouped_batches
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.schedule import MIN_EXAMPLES, fit_to_budget, plan_schedule
from bakeoff.finetuning.trainer import Evaluation, overfitting_warning, train
from bakeoff.strategy_registry import resolve


class ScriptedJob:
    """A linear model with dropout fit to random data; validation scores follow a script, and
    the predicted classes too when `outputs` is given."""

    classes = 3
    validation_rows = 30

    def __init__(
        self, scores: list[float] | None = None, n: int = 48, outputs: list[str] | None = None
    ):
        torch.manual_seed(0)
        self.outputs: list[str | None] = list(outputs or ["a", "b", "c"])
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

    def evaluate(self, split: str, rows: int) -> Evaluation:
        if split == "train":
            return Evaluation(1.0, self.outputs, 3)
        self.evaluations += 1
        if self.scores:
            return Evaluation(
                self.scores[min(self.evaluations - 1, len(self.scores) - 1)], self.outputs, 3
            )
        loss = self.loss(self.module.eval(), self.collate(list(range(8))))
        return Evaluation(-float(loss.detach()), self.outputs, 3)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return [{"params": list(self.module.parameters()), "lr": lr}]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return dict(self.module.named_parameters())

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


CONFIG = TrainConfig(
    epochs=3,
    lr=0.05,
    batch_size=4,
    eval_every=2,
    patience=10,
    precision="fp32",
    eval_at_start=False,
)
LORA_DEFAULTS = resolve("lora").main.training_defaults  # the registered method's


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
    planned = plan_schedule(TrainConfig(), LORA_DEFAULTS, rows=6000, classes=2, validation_rows=9)
    assert fit_to_budget(planned, seconds_per_step=2.0, minutes=10, done=5)
    assert planned.steps == 300 and "10-minute budget" in planned.reasons["steps"]
    assert planned.eval_every == 30  # the evaluations spread over the shorter run
    assert not fit_to_budget(planned, seconds_per_step=1.0, minutes=10, done=5)


def test_a_40_row_3_class_task_gets_at_least_the_floor_of_steps() -> None:
    small = plan_schedule(TrainConfig(), LORA_DEFAULTS, rows=40, classes=3, validation_rows=30)
    floor = MIN_EXAMPLES // 8
    assert small.steps >= floor and small.min_steps == floor  # 2 epochs would be 10 steps
    assert "floor" in small.reasons["steps"] and small.epochs > 2
    assert small.eval_rows == 30 and "all 30" in small.reasons["eval_rows"]
    assert small.lr == 2e-4 and 1 <= small.warmup_steps < small.steps
    large = plan_schedule(TrainConfig(), LORA_DEFAULTS, rows=6000, classes=2, validation_rows=600)
    assert large.steps == 2 * 750 and "the method's 2 epochs" in large.reasons["steps"]
    assert large.eval_rows == 200 and large.eval_every == 100
    many = plan_schedule(TrainConfig(), LORA_DEFAULTS, rows=616, classes=77, validation_rows=600)
    assert many.steps == 77 * 32 // 8  # 32 examples per class
    # more than 20 classes: the label names are learnt from the rows, at LoRA's higher rate
    assert many.lr == 1e-3 and "more than 20 classes (77)" in many.reasons["lr"]
    mine = plan_schedule(
        TrainConfig(lr=3e-4), LORA_DEFAULTS, rows=616, classes=77, validation_rows=9
    )
    assert mine.lr == 3e-4  # yours wins


def test_explicit_settings_win_over_the_schedule() -> None:
    mine = TrainConfig(epochs=1, lr=1e-3, eval_every=3, eval_rows=10, batch_size=4)
    chosen = plan_schedule(mine, LORA_DEFAULTS, rows=40, classes=3, validation_rows=30)
    assert chosen.steps == 10 and chosen.lr == 1e-3 and chosen.eval_every == 3
    assert chosen.eval_rows == 10 and chosen.min_steps == 0  # early stopping as you set it
    assert all("set by you" in chosen.reasons[k] for k in ("steps", "lr", "eval_every"))
    capped = plan_schedule(
        TrainConfig(max_steps=7), LORA_DEFAULTS, rows=40, classes=3, validation_rows=30
    )
    assert capped.steps == 7 and capped.min_steps == 0
    both = plan_schedule(
        TrainConfig(epochs=1, max_steps=1000), LORA_DEFAULTS, rows=40, classes=3, validation_rows=9
    )
    assert both.steps == 5  # max_steps caps epochs, never raises them
    scaled = plan_schedule(
        TrainConfig(batch_size=32), LORA_DEFAULTS, rows=4000, classes=2, validation_rows=30
    )
    assert scaled.lr == pytest.approx(4e-4)  # square-root scaling from batch 8


def test_the_starting_weights_are_scored_and_kept_when_training_never_beats_them() -> None:
    job = ScriptedJob(scores=[0.9, 0.5, 0.6, 0.4])
    start = {k: v.clone() for k, v in job.trainable_state().items()}
    config = CONFIG.model_copy(update={"eval_at_start": True, "patience": 3})
    report = train(job, config, seed=0)
    assert [h["step"] for h in report.history][:2] == [0, 2]
    assert report.best_step == 0 and "no-gain" in report.flags
    for name, value in job.trainable_state().items():
        assert torch.equal(value, start[name])
    assert report.schedule["steps"] == 36 and "set by you" in report.schedule["reasons"]["steps"]


def test_a_validation_score_that_never_moves_keeps_the_trained_weights() -> None:
    """E2E NLG headed by exact match scored 0 at every step: a tie everywhere would have kept
    step 0, the untrained weights; the run keeps its last ones and says why, and what to change."""
    job = ScriptedJob(scores=[0.0])
    start = {k: v.clone() for k, v in job.trainable_state().items()}
    config = CONFIG.model_copy(update={"eval_at_start": True, "patience": 3})
    report = train(job, config, seed=0)
    assert len(report.history) >= 3 and report.best_step == report.history[-1]["step"]
    assert report.best_step == report.steps > 0
    assert "flat-validation" in report.flags and "no-gain" not in report.flags
    assert any("0 at every evaluation" in w and "metrics:" in w for w in report.warnings)
    assert any(not torch.equal(v, start[k]) for k, v in job.trainable_state().items())
    moving = train(ScriptedJob(scores=[0.0, 0.0, 0.1]), config, seed=0)
    assert "flat-validation" not in moving.flags


def test_collapse_is_flagged_when_the_kept_weights_predict_one_class() -> None:
    report = train(ScriptedJob(scores=[0.4, 0.5], outputs=["a"] * 5), CONFIG, seed=0)
    assert "collapsed" in report.flags
    assert any(w.startswith("collapsed") for w in report.warnings)
    assert all(h["predicted_classes"] == 1 for h in report.history)
    healthy = train(ScriptedJob(scores=[0.4, 0.5]), CONFIG, seed=0)
    assert "collapsed" not in healthy.flags and healthy.history[0]["predicted_classes"] == 3


def test_early_stopping_waits_for_the_floor_and_reports_the_noise() -> None:
    scores = [0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    config = CONFIG.model_copy(update={"patience": 1, "min_steps": 8, "epochs": 5})
    report = train(ScriptedJob(scores=scores), config, seed=0)
    assert report.stopped_early and report.steps == 8  # patience ran out at step 4
    assert report.stopping["validation_rows"] == 30 and report.stopping["noisy"] is False
    assert report.stopping["standard_error"] == pytest.approx((0.6 * 0.4 / 30) ** 0.5)
