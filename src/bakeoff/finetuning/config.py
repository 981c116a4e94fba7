"""Validated hyperparameters; defaults suit ~100M-parameter models on a CPU."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from bakeoff.config import StrictModel
from bakeoff.finetuning.label_list import LabelList

# Fields added after stores existed: left out of a run's key while at their default, so the
# runs in those stores keep their keys and resume instead of training again.
SILENT_WHEN_DEFAULT = ("label_list",)


class TrainConfig(StrictModel):
    """The user's training settings. Unset (None) fields are chosen per run from the data's
    size by the schedule (finetuning/schedule.py); a set one always wins."""

    epochs: float | None = Field(
        default=None, gt=0, le=1000, description="Passes over the data (unset: by data size)."
    )
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps.")
    min_steps: int | None = Field(
        default=None, ge=1, description="Steps before early stopping may end training (floor)."
    )
    lr: float | None = Field(default=None, gt=0, lt=1, description="Unset: the method's default.")
    batch_size: int = Field(default=8, ge=1, le=1024)
    grad_accum: int = Field(default=1, ge=1, le=256)
    max_length: int | None = Field(
        default=None,
        ge=8,
        le=32768,
        description="Longest training row in tokens; unset: any row that fits the model's context.",
    )
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0, lt=1)
    max_grad_norm: float | None = Field(
        default=1.0, gt=0, description="Clip the gradient norm (None: no clipping)."
    )
    eval_every: int | None = Field(
        default=None, ge=1, description="Optimizer steps between evaluations (unset: ~10 a run)."
    )
    eval_rows: int | None = Field(
        default=None, ge=1, description="Validation rows per evaluation (unset: up to 200)."
    )
    eval_at_start: bool = Field(
        default=True, description="Score the starting weights too: training must beat them."
    )
    patience: int = Field(default=3, ge=1, description="Evaluations without improvement to stop.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # fp16 with loss scaling
    max_minutes: float | None = Field(
        default=None, gt=0, description="Training time budget; the schedule is cut to fit it."
    )
    label_list: LabelList = Field(
        default="auto",
        description="The paired instruction's list of labels: auto leaves it out above 20 "
        "labels (the model learns them from the rows), keep, drop.",
    )

    def key_dump(self) -> dict[str, object]:
        """The settings as a run's key holds them (see SILENT_WHEN_DEFAULT)."""
        dump = self.model_dump()
        for name in SILENT_WHEN_DEFAULT:
            if dump[name] == type(self).model_fields[name].default:
                del dump[name]
        return dump


LoraTargetWord = Literal["auto", "attention", "all-linear"]
LORA_TARGET_WORDS: tuple[str, ...] = get_args(LoraTargetWord)


class LoraSettings(StrictModel):
    r: int = Field(default=8, ge=1, le=1024)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | LoraTargetWord = Field(
        default="auto",
        description=(
            "The layers to adapt: names, `attention` (the attention projections), `all-linear` "
            "(every linear layer but the LM head) or auto = all-linear for classification, "
            "attention for generation."
        ),
    )


class PromptTuningSettings(StrictModel):
    virtual_tokens: int = Field(default=16, ge=1, le=512)


ENCODER_HEAD_SCHEDULE = {"lr": 5e-5, "epochs": 4.0}  # encoder-head's schedule defaults

FEW_LABELS_PER_CLASS = 128  # up to here concatenation helped encoder-head; at 500 it did not


class EncoderHeadSettings(StrictModel):
    encoder: str = "minilm-l6"
    head_lr: float = Field(default=1e-3, gt=0, lt=1)
    prototype_init: bool = Field(
        default=True, description="Start the head at the class means of the embeddings."
    )
    concat_augment: int | Literal["auto"] = Field(
        default="auto",
        description=(
            "Extra training rows per row: its text joined to another row of its label; "
            f"auto = 1 while the smallest class has at most {FEW_LABELS_PER_CLASS} rows, else 0."
        ),
    )
    pair_loss_weight: float = Field(
        default=3.0,
        ge=0,
        le=100,
        description="Weight of SetFit's pair-similarity loss over in-batch pairs (0 = off).",
    )

    @field_validator("concat_augment")
    @classmethod
    def _copies_in_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 8:
            raise ValueError("concat_augment is auto or 0 to 8 extra rows per row")
        return value

    def concat_copies(self, rows_per_class: dict[str, int]) -> int:
        if self.concat_augment != "auto":
            return int(self.concat_augment)
        return int(min(rows_per_class.values(), default=0) <= FEW_LABELS_PER_CLASS)
