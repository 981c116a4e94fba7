"""The one interface joining prompting and fine-tuning: Strategy.adapt -> Candidate.predict.

The runner, report and advisor never ask which kind of strategy made a candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    run_dir: Path | None = None  # this run's own folder (checkpoints, artifact)
    encoder_name: str = "minilm-l6"
    cache: dict[str, Any] = field(default_factory=dict)  # shared within one process
    train_progress: Callable[[int, dict[str, float]], None] | None = None  # (steps, stats)
    # an artifact of the same candidate whose trained weights start this run (a warm start
    # by `bakeoff update --warm-start`); None: from the base model, as always
    warm_start: Path | None = None
    device: str = "cpu"  # where models this run loads itself (an encoder) compute: cpu | cuda:N

    @property
    def scratch_dir(self) -> Path | None:
        """Where a strategy keeps what an interrupted run resumes from, besides a training
        checkpoint (a prompt search's journal); removed once the run is stored."""
        return self.run_dir / "scratch" if self.run_dir else None


class Candidate(Protocol):
    training: dict[str, Any] | None  # what adapting cost (None when nothing was trained)

    def describe(self) -> dict[str, Any]:
        """What this candidate is, exactly (prompt text, demos, weights) for the report."""
        ...

    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None
    ) -> list[Prediction]: ...

    def save(self, folder: Path) -> None:
        """Write what `bakeoff predict --artifact` needs to rebuild this candidate."""
        ...


class Strategy(Protocol):
    name: str
    uses_model: bool  # False when the strategy brings its own model (encoder-head)

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> Candidate: ...
