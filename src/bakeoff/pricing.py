"""What the team needs and pays: constraints the advisor weighs, and prices the cost model uses."""

from __future__ import annotations

from pydantic import Field, model_validator

from bakeoff.config import StrictModel


class Constraints(StrictModel):
    """What the team needs; the advisor weighs the measurements against these."""

    requests_per_month: float = Field(default=100_000, ge=0)
    latency_ms: float | None = Field(default=None, gt=0, description="Per-request target.")
    training_budget_usd: float | None = Field(default=None, ge=0, description="Per training run.")
    horizon_months: float = Field(default=12, gt=0, le=120)
    new_data_every_months: float | None = Field(
        default=None, gt=0, description="How often new labelled data arrives (retraining cadence)."
    )
    min_quality: float | None = Field(
        default=None, ge=0, le=1, description="Headline metric floor."
    )
    max_quality_loss: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Headline-metric loss you accept for a cheaper candidate (0.02 = 2 points).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Constraints:
        every = self.new_data_every_months
        if every is not None and every > self.horizon_months:
            raise ValueError(
                f"`new_data_every_months` ({every:g}) is longer than `horizon_months` "
                f"({self.horizon_months:g}): new data would never arrive within the horizon — "
                "lengthen the horizon or drop new_data_every_months"
            )
        return self


class Prices(StrictModel):
    """Money per unit; defaults are list prices of late 2026, edit them to yours."""

    cpu_hour_usd: float = Field(default=0.10, ge=0, description="A 2-4 core cloud VM.")
    gpu_hour_usd: float = Field(default=2.50, ge=0, description="One H100-class GPU.")
    input_per_1m_tokens_usd: float = Field(default=0.0, ge=0, description="API models only.")
    output_per_1m_tokens_usd: float = Field(default=0.0, ge=0, description="API models only.")
