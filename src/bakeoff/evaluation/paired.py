"""Paired significance between two candidates scored on the same test rows.

McNemar's exact test looks only at rows where exactly one of the two is right (classification);
the paired bootstrap resamples rows once for both candidates, so it works for any metric,
corpus-level ones (macro-F1, BLEU) included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import comb

import numpy as np

from bakeoff.evaluation.stats import Statistic


@dataclass(frozen=True)
class PairedResult:
    difference: float  # metric(a) - metric(b) on all rows
    ci_low: float
    ci_high: float
    p_value: float  # paired bootstrap, two-sided
    mcnemar_p: float | None = None  # classification only
    only_a_right: int | None = None
    only_b_right: int | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    stat_a: Statistic, stat_b: Statistic, n_rows: int, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float, float]:
    """(difference, ci_low, ci_high, two-sided p) of stat_a - stat_b over shared resamples."""
    everything = np.arange(n_rows)
    diff = stat_a(everything) - stat_b(everything)
    rng = np.random.default_rng(seed)
    samples = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, n_rows, n_rows)
        samples[i] = stat_a(idx) - stat_b(idx)
    low, high = np.percentile(samples, [2.5, 97.5])
    # two-sided: how often the resampled difference lands on the other side of zero
    if diff > 0:
        p = 2 * float(np.mean(samples <= 0))
    elif diff < 0:
        p = 2 * float(np.mean(samples >= 0))
    else:
        p = 1.0
    return float(diff), float(low), float(high), min(1.0, max(p, 1 / n_boot))


def compare_pair(
    stat_a: Statistic,
    stat_b: Statistic,
    n_rows: int,
    correct_a: np.ndarray | None = None,
    correct_b: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> PairedResult:
    diff, low, high, p = paired_bootstrap(stat_a, stat_b, n_rows, seed=seed)
    if correct_a is None or correct_b is None:
        return PairedResult(diff, low, high, p)
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(correct_b & ~correct_a))
    return PairedResult(diff, low, high, p, mcnemar_exact(only_a, only_b), only_a, only_b)
