"""Every metric by name, with the direction that counts as better (lm-eval style)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: str  # "classification" | "generation"
    higher_is_better: bool
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("accuracy", "classification", True, "share of rows with the right label"),
        MetricInfo("macro_f1", "classification", True, "unweighted mean of per-class F1"),
        MetricInfo("exact_match", "generation", True, "output equals a reference (normalised)"),
        MetricInfo("token_f1", "generation", True, "best token-overlap F1 against the references"),
        MetricInfo("rouge_l", "generation", True, "best ROUGE-L F-measure against the references"),
        MetricInfo("bleu", "generation", True, "corpus BLEU-4 against all references (0-100)"),
        # tasks that declare `output:` (task/output.py)
        MetricInfo("valid_rate", "generation", True, "share of outputs of the declared shape"),
        MetricInfo("field_em", "generation", True, "JSON outputs: mean exact match per field"),
        MetricInfo("field_f1", "generation", True, "JSON outputs: mean token F1 per field"),
    ]
}
STRUCTURED = {"valid_rate", "field_em", "field_f1"}  # need the task's `output:`

DEFAULT_METRICS = {
    "classification": ["accuracy", "macro_f1"],
    "generation": ["exact_match", "token_f1", "rouge_l", "bleu"],
    "structured": ["field_f1", "field_em", "valid_rate", "exact_match", "token_f1"],
}


def check_metric_names(kind: str, names: list[str] | None, structured: bool = False) -> None:
    for name in names or []:
        info = METRICS.get(name)
        if info is None or info.kind != kind or (name in STRUCTURED and not structured):
            allowed = ", ".join(DEFAULT_METRICS["structured" if structured else kind])
            raise ValueError(f"unknown metric '{name}' for a {kind} task; choose from {allowed}")


def metrics_for(kind: str, names: list[str] | None, structured: bool = False) -> list[str]:
    """The task's metrics (headline first), or the defaults for its kind (and shape)."""
    return names or DEFAULT_METRICS["structured" if structured and kind == "generation" else kind]
