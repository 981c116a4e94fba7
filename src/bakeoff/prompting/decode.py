"""From model outputs to labels: label scoring (with normalisation and calibration) or parsing."""

from __future__ import annotations

import math
import re
from typing import Literal

from bakeoff.models.base import OptionScores
from bakeoff.task.spec import LabelSpec

Normalize = Literal["mean", "sum"]

CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")  # contextual calibration (Zhao et al., 2021)


def option_scores(scores: OptionScores, normalize: Normalize) -> list[float]:
    """Per-option score: summed log-probability, or its mean per token."""
    if normalize == "sum":
        return list(scores.logprobs)
    return [lp / n for lp, n in zip(scores.logprobs, scores.n_tokens, strict=True)]


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def mean_distribution(rows: list[list[float]]) -> list[float]:
    """The column means of probability rows: a label prior (contextual or fitted)."""
    return [sum(col) / len(col) for col in zip(*rows, strict=True)]


def argmax(values: list[float]) -> int:
    """The index of the largest value (the first on ties)."""
    return max(range(len(values)), key=values.__getitem__)


def calibrated(probs: list[float], content_free: list[float]) -> list[float]:
    """Divide out the model's prior over labels (measured on content-free inputs)."""
    adjusted = [p / max(c, 1e-12) for p, c in zip(probs, content_free, strict=True)]
    total = sum(adjusted)
    return [a / total for a in adjusted]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def parse_label(text: str, labels: list[LabelSpec]) -> str | None:
    """The label a free-text answer names, or None when it names none (or several equally)."""
    answer = _norm(text)
    if not answer:
        return None
    forms = {label.name: {_norm(label.name), _norm(label.words)} for label in labels}
    for name, variants in forms.items():
        if answer in variants:
            return name
    first_hit: dict[str, int] = {}
    for name, variants in forms.items():
        for variant in variants:
            match = re.search(rf"\b{re.escape(variant)}\b", answer) if variant else None
            if match:
                first_hit[name] = min(first_hit.get(name, match.start()), match.start())
    if first_hit:
        ordered = sorted(first_hit.items(), key=lambda kv: kv[1])
        if len(ordered) == 1 or ordered[0][1] < ordered[1][1]:
            return ordered[0][0]
        return None
    word = answer.split()[0]
    prefixed = [n for n, variants in forms.items() if any(v.startswith(word) for v in variants)]
    return prefixed[0] if len(word) >= 3 and len(prefixed) == 1 else None
