"""The settings of a prompt search (experiment key `search`), light to import."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bakeoff.config import StrictModel

SearchDemos = Literal["random", "stratified", "diverse", "knn", "knn-balanced"]
SearchFormat = Literal["plain", "inline", "chat"]


class SearchSettings(StrictModel):
    """The space and the budget of a prompt search (experiment key `search`)."""

    max_calls: int = Field(
        default=4000, ge=1, description="Model scoring requests the whole search may make."
    )
    shots: list[int] = Field(default_factory=lambda: [0, 4, 8], min_length=1)
    demos: list[SearchDemos] = Field(
        default_factory=lambda: list[SearchDemos](["random", "stratified"]), min_length=1
    )
    formats: list[SearchFormat] = Field(
        default_factory=lambda: list[SearchFormat](["plain"]),
        min_length=1,
        description="Layouts to try (chat and inline where the model has a chat template); "
        "more than one: the finalists' other layouts are raced in a second stage.",
    )
    label_words: bool = Field(
        default=False,
        description="Also try the label names and label words mined from the model's "
        "next-token distribution on training rows (off by default: measured no gain).",
    )
    orders: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Orders to try of each fixed set of demos (1: as chosen only); more than "
        "one: the finalists' other orders are raced in a second stage.",
    )
    calibrate: bool = Field(default=True, description="Also try calibrated prompts.")
    calibrations: list[Literal["contextual", "mean"]] = Field(
        default_factory=lambda: list[Literal["contextual", "mean"]](["contextual"]),
        min_length=1,
        description="How: contextual (content-free inputs), mean (the mean prediction over "
        "the validation rows scored).",
    )
    edits: bool = Field(default=True, description="Also try edits of the wordings.")
    first_rows: int = Field(default=8, ge=2, le=4096, description="Rows of the first round.")
    confirm_rows: int = Field(
        default=200, ge=0, le=100_000, description="Validation rows kept for the final check."
    )
    finalists: int = Field(default=3, ge=1, le=32)
    proposer: str | None = Field(
        default=None,
        description="A model that writes instructions to race (any --model name); none: "
        "the search works without one.",
    )
    proposer_calls: int = Field(
        default=8, ge=1, le=1000, description="Generations the proposer may make."
    )
    proposer_optional: bool = Field(
        default=False,
        description="Search without the proposer when it fails (unreachable, unusable text) "
        "instead of stopping with an error.",
    )

    @field_validator("shots")
    @classmethod
    def _shots_in_range(cls, value: list[int]) -> list[int]:
        if any(not 0 <= s <= 64 for s in value):
            raise ValueError("shots are 0 to 64")
        return sorted(set(value))
