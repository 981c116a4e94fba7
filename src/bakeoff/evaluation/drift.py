"""Drift between two versions of a task's data: inputs, labels, lengths and vocabulary.

Every figure comes with a permutation test (the version labels shuffled, the statistic
recomputed), so "drift" means "more than two samples of one distribution differ by chance":

- input drift: a domain classifier (multinomial naive Bayes over words, scored out of fold)
  tells old rows from new; its ROC AUC, and the words that separate the versions most;
- label drift: the Jensen–Shannon divergence of the label distributions, with each label's share;
- length shift: the difference of mean words per row;
- vocabulary shift: the share of the new rows' words never seen in the old rows, against the
  same share for as many held-out old rows.

The verdict: "strong" when a test is significant and the effect is large (AUC ≥ 0.75, or a
label's share moved by ≥ 10 points), "some" when any test is significant, "none" otherwise.
The tests are Bonferroni-corrected over the four, so two samples of one distribution get a
verdict other than "none" in about 5% of cases.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bakeoff.task.example import Example

WORD = re.compile(r"[a-z][a-z']+")
ALPHA = 0.05
TESTS = 4  # input, labels, length, vocabulary: Bonferroni over these
STRONG_AUC = 0.75
STRONG_LABEL_SHIFT = 0.10  # a label's share moved by 10 points
MAX_WORDS = 5000  # the domain classifier's vocabulary: the most frequent words
FOLDS = 5
PERMUTATIONS = 199  # the smallest p is 1/200, below the corrected 0.05 / 4
MAX_ROWS = 4000  # per side: a larger side is a seeded sample (the tests' power is ample)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass
class Test:
    statistic: float
    p: float  # permutation p-value, (1 + as extreme) / (1 + permutations)
    significant: bool  # p below ALPHA / TESTS


@dataclass
class DriftReport:
    verdict: str  # none | some | strong
    reasons: list[str]
    old_rows: int
    new_rows: int
    input_auc: Test
    separating_words: dict[str, list[str]]  # {"old": [...], "new": [...]}
    label_js: Test | None  # None without labels
    label_shares: dict[str, tuple[float, float]] = field(default_factory=dict)  # old, new
    length: Test | None = None  # statistic: mean words new − old
    mean_words: tuple[float, float] = (0.0, 0.0)
    unseen_words: Test | None = None  # statistic: new rows' unseen share − old halves' share
    permutations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _p_value(observed: float, null: list[float]) -> float:
    return (1 + sum(v >= observed for v in null)) / (1 + len(null))


def _test(observed: float, null: list[float]) -> Test:
    p = _p_value(observed, null)
    return Test(observed, p, p < ALPHA / TESTS)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by ranks (ties get their mean rank)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # rank of each distinct value's last member
    ranks = (ends - (counts - 1) / 2)[inverse]  # the mean rank of its ties
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _counts(texts: list[str]) -> tuple[np.ndarray, list[str]]:
    docs = [words(t) for t in texts]
    frequency = Counter(w for d in docs for w in set(d))
    vocabulary = [w for w, _ in frequency.most_common(MAX_WORDS)]
    index = {w: i for i, w in enumerate(vocabulary)}
    matrix = np.zeros((len(docs), len(vocabulary)), dtype=np.float32)
    for row, doc in enumerate(docs):
        for w in doc:
            if w in index:
                matrix[row, index[w]] += 1
    return matrix, vocabulary


def _log_ratio(new_counts: np.ndarray, old_counts: np.ndarray) -> np.ndarray:
    """Naive Bayes log P(word | new) − log P(word | old), add-one smoothed; counts (V, …)."""
    new_counts, old_counts = new_counts + 1, old_counts + 1
    return np.log(new_counts / new_counts.sum(0)) - np.log(old_counts / old_counts.sum(0))


def domain_auc(matrix: np.ndarray, new: np.ndarray, seed: int) -> float:
    """Out-of-fold AUC of a naive Bayes classifier telling new rows from old: each fold is
    scored by the model fitted on the other folds (all folds in two matrix products)."""
    folds = np.random.default_rng(seed).permutation(len(new)) % FOLDS
    one_hot = np.zeros((len(new), 2 * FOLDS), dtype=np.float32)
    one_hot[np.arange(len(new)), 2 * folds + new.astype(int)] = 1
    sums = matrix.T @ one_hot  # (V, 2·folds): word counts per (fold, side)
    old_in, new_in = sums[:, 0::2], sums[:, 1::2]  # (V, folds)
    weights = _log_ratio(
        new_in.sum(1, keepdims=True) - new_in, old_in.sum(1, keepdims=True) - old_in
    )
    scores = (matrix @ weights)[np.arange(len(new)), folds]  # each row by its fold's model
    return auc(scores, new)


def _shares(labels: list[str], names: list[str]) -> np.ndarray:
    counts = Counter(labels)
    total = max(len(labels), 1)
    return np.array([counts[n] / total for n in names])


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / b[mask])).sum())

    return (kl(p, m) + kl(q, m)) / 2


def _unseen_share(seen: set[str], rows: list[list[str]]) -> float:
    tokens = [w for r in rows for w in r]
    return sum(w not in seen for w in tokens) / max(len(tokens), 1)


def measure_drift(
    old: list[Example], new: list[Example], *, permutations: int = PERMUTATIONS, seed: int = 0
) -> DriftReport:
    """Compare the rows of two data versions (texts, and labels where they have them)."""
    rng = random.Random(seed)
    old = rng.sample(old, MAX_ROWS) if len(old) > MAX_ROWS else old
    new = rng.sample(new, MAX_ROWS) if len(new) > MAX_ROWS else new
    texts = [ex.text for ex in old] + [ex.text for ex in new]
    is_new = np.array([False] * len(old) + [True] * len(new))
    matrix, vocabulary = _counts(texts)
    lengths = np.array([len(words(t)) for t in texts], dtype=float)
    labelled = all(ex.label is not None for ex in old + new)
    labels = [ex.label or "" for ex in old + new]
    names = sorted(set(labels))

    def statistics(mask: np.ndarray, fold_seed: int) -> tuple[float, float, float]:
        a = domain_auc(matrix, mask, fold_seed)
        js = jensen_shannon(
            _shares([lb for lb, m in zip(labels, mask, strict=True) if not m], names),
            _shares([lb for lb, m in zip(labels, mask, strict=True) if m], names),
        )
        return a, js, abs(float(lengths[mask].mean() - lengths[~mask].mean()))

    observed = statistics(is_new, seed)
    null = [
        statistics(np.array(rng.sample(list(is_new), len(is_new))), seed + 1 + i)
        for i in range(permutations)
    ]
    input_test = _test(observed[0], [n[0] for n in null])
    label_test = _test(observed[1], [n[1] for n in null]) if labelled else None
    length_test = _test(observed[2], [n[2] for n in null])
    length_test.statistic = float(lengths[is_new].mean() - lengths[~is_new].mean())

    old_docs, new_docs = [words(ex.text) for ex in old], [words(ex.text) for ex in new]
    unseen = _unseen_test(old_docs, new_docs, permutations, rng)

    weights = _log_ratio(matrix[is_new].sum(0), matrix[~is_new].sum(0))
    present = (matrix[is_new].sum(0) + matrix[~is_new].sum(0)) >= 3  # not one-off words
    ranked = [i for i in np.argsort(weights) if present[i]]
    separating = {
        "old": [vocabulary[i] for i in ranked[:10]],
        "new": [vocabulary[i] for i in ranked[::-1][:10]],
    }
    shares_old, shares_new = (
        _shares([lb for lb, m in zip(labels, is_new, strict=True) if m == side], names)
        for side in (False, True)
    )
    label_shares = (
        {n: (float(o), float(w)) for n, o, w in zip(names, shares_old, shares_new, strict=True)}
        if labelled
        else {}
    )
    verdict, reasons = _verdict(input_test, label_test, label_shares, length_test, unseen)
    return DriftReport(
        verdict=verdict,
        reasons=reasons,
        old_rows=len(old),
        new_rows=len(new),
        input_auc=input_test,
        separating_words=separating,
        label_js=label_test,
        label_shares=label_shares,
        length=length_test,
        mean_words=(float(lengths[~is_new].mean()), float(lengths[is_new].mean())),
        unseen_words=unseen,
        permutations=permutations,
    )


def _unseen_test(
    old: list[list[str]], new: list[list[str]], permutations: int, rng: random.Random
) -> Test:
    """The new rows' share of words unseen in the old rows, minus the same share for as many
    held-out old rows against the same reference (some words are always new); permutation
    null over the pooled rows."""

    def excess(first: list[list[str]], second: list[list[str]]) -> float:
        held = min(len(second), len(first) // 2)
        seen = {w for r in first[held:] for w in r}  # the reference both are measured against
        return _unseen_share(seen, second[:held]) - _unseen_share(seen, first[:held])

    observed = excess(rng.sample(old, len(old)), rng.sample(new, len(new)))
    pooled = old + new
    null = []
    for _ in range(permutations):
        shuffled = rng.sample(pooled, len(pooled))
        null.append(excess(shuffled[: len(old)], shuffled[len(old) :]))
    return _test(observed, null)


def _verdict(
    input_test: Test,
    label_test: Test | None,
    shares: dict[str, tuple[float, float]],
    length: Test,
    unseen: Test,
) -> tuple[str, list[str]]:
    reasons = []
    if input_test.significant:
        reasons.append(
            f"a classifier tells new rows from old (AUC {input_test.statistic:.2f}, "
            f"p = {input_test.p:.3f})"
        )
    largest = max((abs(n - o) for o, n in shares.values()), default=0.0)
    if label_test is not None and label_test.significant:
        label, (o, n) = max(shares.items(), key=lambda kv: abs(kv[1][1] - kv[1][0]))
        reasons.append(
            f"the label mix changed (Jensen–Shannon {label_test.statistic:.3f}, p = "
            f"{label_test.p:.3f}; largest: {label} {100 * o:.0f}% → {100 * n:.0f}%)"
        )
    if length.significant:
        reasons.append(f"rows are {length.statistic:+.1f} words longer on average")
    if unseen.significant:
        reasons.append(f"{100 * unseen.statistic:+.1f} points more unseen words than usual")
    strong = (input_test.significant and input_test.statistic >= STRONG_AUC) or (
        label_test is not None and label_test.significant and largest >= STRONG_LABEL_SHIFT
    )
    verdict = "strong" if strong else "some" if reasons else "none"
    if not reasons:
        reasons.append("no test separates the versions beyond chance")
    return verdict, reasons


def false_alarm_rate(rows: list[Example], size: int, resamples: int, seed: int = 0) -> float:
    """How often two disjoint samples of the same rows get a verdict other than "none"."""
    rng = random.Random(seed)
    alarms = 0
    for i in range(resamples):
        drawn = rng.sample(rows, 2 * size)
        alarms += measure_drift(drawn[:size], drawn[size:], seed=seed + i).verdict != "none"
    return alarms / resamples


__all__ = ["DriftReport", "Test", "auc", "false_alarm_rate", "jensen_shannon", "measure_drift"]
