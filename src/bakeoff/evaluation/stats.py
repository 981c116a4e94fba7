"""Percentile bootstrap confidence intervals over test rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Statistic = Callable[[np.ndarray], float]  # row indices -> metric value


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def bootstrap(
    statistic: Statistic, n_rows: int, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> Estimate:
    """The statistic on all rows, with a percentile CI from resampling rows with replacement."""
    everything = np.arange(n_rows)
    value = statistic(everything)
    if n_rows < 2 or n_boot == 0:
        return Estimate(value, value, value)
    rng = np.random.default_rng(seed)
    samples = np.array(
        [statistic(rng.integers(0, n_rows, n_rows)) for _ in range(n_boot)], dtype=float
    )
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(value, float(low), float(high))


def bootstrap_difference(
    after: Statistic,
    n_after: int,
    before: Statistic,
    n_before: int,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """`after` − `before` on two independent sets of rows (e.g. new and old test rows), with a
    percentile CI from resampling each set's rows with replacement."""
    value = after(np.arange(n_after)) - before(np.arange(n_before))
    if min(n_after, n_before) < 2 or n_boot == 0:
        return Estimate(value, value, value)
    rng = np.random.default_rng(seed)
    samples = np.array(
        [
            after(rng.integers(0, n_after, n_after)) - before(rng.integers(0, n_before, n_before))
            for _ in range(n_boot)
        ],
        dtype=float,
    )
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(value, float(low), float(high))
