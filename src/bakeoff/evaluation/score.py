"""Score predictions against gold: headline metrics with CIs, per-class figures, confusion."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bakeoff.evaluation import text_metrics as tm
from bakeoff.evaluation.stats import Statistic, bootstrap
from bakeoff.metric_catalog import METRICS
from bakeoff.task.example import Example
from bakeoff.task.output import OutputSpec
from bakeoff.task.spec import TaskSpec

UNPARSED = "<unparsed>"


def _f1_per_class(codes: np.ndarray, n_labels: int) -> np.ndarray:
    """Per-class F1 from gold*(K+1)+pred codes (pred K = unparsed)."""
    cm = np.bincount(codes, minlength=n_labels * (n_labels + 1)).reshape(n_labels, n_labels + 1)
    tp = np.diag(cm[:, :n_labels]).astype(float)
    predicted = cm[:, :n_labels].sum(axis=0)
    gold = cm.sum(axis=1)
    denom = predicted + gold
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def _classification(
    task: TaskSpec, gold: list[Example], predicted: list[str | None]
) -> tuple[dict[str, Statistic], dict[str, Any]]:
    labels = task.label_names
    k = len(labels)
    index = {name: i for i, name in enumerate(labels)}
    g = np.array([index[ex.label or ""] for ex in gold])
    p = np.array([index.get(pred or "", k) for pred in predicted])
    correct = (g == p).astype(float)
    codes = g * (k + 1) + p
    present = np.zeros(k, dtype=bool)
    present[np.unique(g)] = True

    def macro_f1(idx: np.ndarray) -> float:
        f1 = _f1_per_class(codes[idx], k)
        return float(f1[present].mean())

    cm = np.bincount(codes, minlength=k * (k + 1)).reshape(k, k + 1)
    per_class = {}
    for i, name in enumerate(labels):
        tp, n_pred, n_gold = cm[i, i], cm[:, i].sum(), cm[i].sum()
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(n_gold),
        }
    details = {
        "per_class": per_class,
        "confusion": {"labels": labels, "columns": [*labels, UNPARSED], "matrix": cm.tolist()},
        "unparsed": int((p == k).sum()),
    }
    stats: dict[str, Statistic] = {
        "accuracy": lambda idx: float(correct[idx].mean()),
        "macro_f1": macro_f1,
    }
    return stats, details


def _generation(
    task: TaskSpec, gold: list[Example], predicted: list[str | None]
) -> tuple[dict[str, Statistic], dict[str, Any]]:
    outputs = [p or "" for p in predicted]
    em = np.array([tm.exact_match(o, ex.references) for o, ex in zip(outputs, gold, strict=True)])
    f1 = np.array([tm.token_f1(o, ex.references) for o, ex in zip(outputs, gold, strict=True)])
    rl = np.array([tm.rouge_l(o, ex.references) for o, ex in zip(outputs, gold, strict=True)])
    bleu_rows = np.array(
        [tm.bleu_stats(o, ex.references) for o, ex in zip(outputs, gold, strict=True)]
    )
    stats: dict[str, Statistic] = {
        "exact_match": lambda idx: float(em[idx].mean()),
        "token_f1": lambda idx: float(f1[idx].mean()),
        "rouge_l": lambda idx: float(rl[idx].mean()),
        "bleu": lambda idx: tm.corpus_bleu(bleu_rows[idx]),
    }
    details: dict[str, Any] = {"empty_outputs": sum(1 for o in outputs if not o.strip())}
    if task.output is not None:
        shape = task.output
        valid = np.array([shape.valid(o) for o in outputs], dtype=float)
        pairs = zip(outputs, gold, strict=True)
        fields = np.array([field_scores(shape, o, ex.references) for o, ex in pairs])
        fields = fields.reshape(len(outputs), 2)
        stats["valid_rate"] = lambda idx: float(valid[idx].mean())
        stats["field_em"] = lambda idx: float(fields[idx, 0].mean())
        stats["field_f1"] = lambda idx: float(fields[idx, 1].mean())
        details["invalid_outputs"] = int(len(outputs) - valid.sum())
    return stats, details


def field_scores(
    output_spec: OutputSpec, output: str, references: tuple[str, ...]
) -> tuple[float, float]:
    """(exact match, token F1) of a JSON output's fields against the best reference: the mean
    over the reference's fields (a field the output lacks scores 0); (0, 0) for output that is
    not a JSON object, or references that are not fields (task/output.py)."""
    value = output_spec.parse(output)
    if not isinstance(value, dict):
        return 0.0, 0.0
    got = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    best = (0.0, 0.0)
    for reference in references:
        gold = output_spec.reference_fields(reference)
        if not gold:
            continue
        em = [tm.exact_match(got.get(k, ""), (v,)) for k, v in gold.items()]
        f1 = [tm.token_f1(got.get(k, ""), (v,)) for k, v in gold.items()]
        best = max(best, (sum(em) / len(em), sum(f1) / len(f1)), key=lambda pair: pair[1])
    return best


def score_predictions(
    task: TaskSpec,
    gold: list[Example],
    predicted: list[str | None],
    *,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """{"metrics": {name: {value, ci_low, ci_high, higher_is_better}}, ...details}."""
    if task.kind == "classification":
        stats, details = _classification(task, gold, predicted)
    else:
        stats, details = _generation(task, gold, predicted)
    metrics = {}
    for name in task.metric_names:
        estimate = bootstrap(stats[name], len(gold), seed=seed, n_boot=n_boot)
        metrics[name] = {**estimate.as_dict(), "higher_is_better": METRICS[name].higher_is_better}
    return {"metrics": metrics, **details}


def headline_value(task: TaskSpec, gold: list[Example], predicted: list[str | None]) -> float:
    """The task's first metric, without a CI (for validation during training)."""
    name = task.metric_names[0]
    return float(score_predictions(task, gold, predicted, n_boot=0)["metrics"][name]["value"])


def headline_statistic(
    task: TaskSpec, gold: list[Example], predicted: list[str | None]
) -> tuple[Statistic, np.ndarray | None]:
    """The headline metric as a function of row indices (for paired tests), and, for
    classification, which rows were right (for McNemar)."""
    name = task.metric_names[0]
    if task.kind == "classification":
        stats, _ = _classification(task, gold, predicted)
        correct = np.array([p == ex.label for p, ex in zip(predicted, gold, strict=True)])
        return stats[name], correct
    stats, _ = _generation(task, gold, predicted)
    return stats[name], None
