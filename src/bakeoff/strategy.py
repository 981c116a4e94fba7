"""The one interface joining prompting and fine-tuning: Strategy.adapt -> Candidate.predict.

The runner, report and advisor never ask which kind of strategy made a candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bakeoff.models.base import LanguageModel, Progress
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


@dataclass(frozen=True)
class Prediction:
    id: str
    output: str | None  # the label or generated text; None = the output could not be parsed
    raw: str | None = None  # what the model generated, when it generated
    probabilities: dict[str, float] | None = None  # label scoring: label -> probability
    prompt_tokens: int = 0
    output_tokens: int = 0


@dataclass
class RunContext:
    """Everything a strategy may use besides the data: no globals."""

    seed: int = 0
    out_dir: Path | None = None
    encoder_name: str = "minilm-l6"
    cache: dict[str, Any] = field(default_factory=dict)  # shared within one process


class Candidate(Protocol):
    def describe(self) -> dict[str, Any]:
        """What this candidate is, exactly (prompt text, demos, weights) for the report."""
        ...

    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None
    ) -> list[Prediction]: ...


class Strategy(Protocol):
    name: str

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> Candidate: ...
