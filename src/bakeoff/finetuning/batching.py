"""Length-grouped, seeded batches: similar lengths share a batch so padding stays small."""

from __future__ import annotations

import random


def length_grouped_batches(
    lengths: list[int], batch_size: int, seed: int, group: int = 32
) -> list[list[int]]:
    """Shuffle, sort within windows of `group` batches by length, then shuffle batch order."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * group
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
