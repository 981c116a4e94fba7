"""The run record: what one finished run was and measured, typed, from the executor through the
store, analysis, report, advisor and serve. JSON in the store and in results.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from bakeoff.cost.ledger import Usage

Kind = Literal["prompt", "trained"]


@dataclass(frozen=True)
class RunRecord:
    key: str
    label: str  # e.g. `few-shot knn×4 plain w0 n=32`
    family: str  # the label without wording, seed and size: one line on a learning curve
    strategy: str
    kind: Kind  # prompt or trained: nothing downstream compares strategy names
    model: str  # the model it ran on (its encoder, for strategies that bring their own)
    seed: int
    train_size: int | None  # None: learns from no labels (zero-shot)
    settings: dict[str, Any]
    metrics: dict[str, dict[str, Any]]  # name -> {value, ci_low, ci_high, higher_is_better}
    usage: Usage
    predictions: list[dict[str, Any]]  # {id, gold, output, raw, probabilities}, test order
    details: dict[str, Any] = field(default_factory=dict)  # per_class, confusion, unparsed …
    training: dict[str, Any] | None = None  # the trainer's summary and history
    artifact: str | None = None
    candidate: dict[str, Any] = field(default_factory=dict)  # exact prompt / weights described
    machine: dict[str, Any] = field(default_factory=dict)  # CPU, cores, threads, precision + why
    data_version: int = 1  # 2, 3, …: a challenger re-adapted by `bakeoff update`

    @property
    def wording(self) -> int:
        return int(self.settings.get("wording", 0))

    @property
    def trained(self) -> bool:
        return self.kind == "trained"

    def value(self, metric: str) -> float:
        return float(self.metrics[metric]["value"])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["usage"] = Usage(**data["usage"])
        return cls(**values)
