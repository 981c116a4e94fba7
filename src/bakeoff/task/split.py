"""Seeded, stratified splitting and sub-sampling (largest-remainder quotas per class)."""

from __future__ import annotations

import random
from collections import defaultdict

from bakeoff.task.example import Example


def _by_class(examples: list[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.label or ""].append(ex)
    return dict(sorted(groups.items()))


def quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over classes in proportion to `sizes`, largest remainder first."""
    available = sum(sizes.values())
    total = min(total, available)
    exact = {k: total * n / available for k, n in sizes.items()}
    out = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(sizes, key=lambda k: (-(exact[k] - out[k]), k))
    for k in by_remainder[: total - sum(out.values())]:
        out[k] += 1
    return out


def stratified_sample(examples: list[Example], n: int, seed: int) -> list[Example]:
    """`n` examples with the class mix of `examples`, deterministic for a seed."""
    if n >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    groups = _by_class(examples)
    take = quotas({k: len(v) for k, v in groups.items()}, n)
    chosen = {ex.id for k, rows in groups.items() for ex in rng.sample(rows, take[k])}
    return [ex for ex in examples if ex.id in chosen]


def stratified_split(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(rest, held_out) with `fraction` of each class held out."""
    held = stratified_sample(examples, max(1, round(len(examples) * fraction)), seed)
    held_ids = {ex.id for ex in held}
    return [ex for ex in examples if ex.id not in held_ids], held
