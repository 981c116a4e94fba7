"""Seeded, stratified splitting and sub-sampling (largest-remainder quotas per class)."""

from __future__ import annotations

import random
from collections import defaultdict

from bakeoff.task.example import Example, normalize_text


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
    """(rest, held_out) with `fraction` of each class held out.

    Rows with the same input text (e.g. one input with several reference outputs) move
    together, so an input never sits on both sides of the split.
    """
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(normalize_text(ex.text, casefold=True), []).append(ex)
    units = [Example(key, key, members[0].label) for key, members in groups.items()]
    held_units = stratified_sample(units, max(1, round(len(units) * fraction)), seed)
    held_ids = {ex.id for unit in held_units for ex in groups[unit.id]}
    return (
        [ex for ex in examples if ex.id not in held_ids],
        [ex for ex in examples if ex.id in held_ids],
    )
