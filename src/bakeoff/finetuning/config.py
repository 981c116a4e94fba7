"""Validated hyperparameters; defaults suit ~100M-parameter models on a CPU."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bakeoff.task.spec import StrictModel


class TrainConfig(StrictModel):
    epochs: float = Field(default=2.0, gt=0, le=100)
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps.")
    lr: float = Field(default=2e-4, gt=0, lt=1)
    batch_size: int = Field(default=8, ge=1, le=1024)
    grad_accum: int = Field(default=1, ge=1, le=256)
    max_length: int = Field(default=256, ge=8, le=32768)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0, lt=1)
    max_grad_norm: float | None = Field(
        default=1.0, gt=0, description="Clip the gradient norm (None: no clipping)."
    )
    eval_every: int = Field(default=40, ge=1, description="Optimizer steps between evaluations.")
    eval_rows: int = Field(default=200, ge=1, description="Validation rows per evaluation.")
    patience: int = Field(default=3, ge=1, description="Evaluations without improvement to stop.")
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    max_minutes: float | None = Field(
        default=None, gt=0, description="Training time budget; at the limit it validates and stops."
    )


class LoraSettings(StrictModel):
    r: int = Field(default=8, ge=1, le=1024)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto"] = "auto"


class PromptTuningSettings(StrictModel):
    virtual_tokens: int = Field(default=16, ge=1, le=512)


class EncoderHeadSettings(StrictModel):
    encoder: str = "minilm-l6"
    head_lr: float = Field(default=1e-3, gt=0, lt=1)
    prototype_init: bool = Field(
        default=True, description="Start the head at the class means of the embeddings."
    )
    concat_augment: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Extra training rows per row: its text joined to another row of its label.",
    )
    pair_loss_weight: float = Field(
        default=3.0,
        ge=0,
        le=100,
        description="Weight of SetFit's pair-similarity loss over in-batch pairs (0 = off).",
    )


DEFAULT_LR = {"lora": 2e-4, "full": 2e-5, "prompt-tuning": 3e-2, "encoder-head": 5e-5}
DEFAULT_EPOCHS = {"lora": 2.0, "full": 1.0, "prompt-tuning": 3.0, "encoder-head": 4.0}
