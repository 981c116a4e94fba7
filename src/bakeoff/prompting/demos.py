"""Choosing few-shot demonstrations from the train split: random, stratified or k-nearest."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Literal, Protocol

import numpy as np

from bakeoff.task.example import Example, normalize_text

DemoMethod = Literal["random", "stratified", "knn"]


class DemoSelector(Protocol):
    fixed: bool  # True when every row gets the same demos (lets the prefix cache work)

    def select(self, texts: list[str]) -> list[list[Example]]: ...


class FixedDemos:
    """The same demos for every row."""

    fixed = True

    def __init__(self, demos: list[Example]):
        self.demos = demos

    def select(self, texts: list[str]) -> list[list[Example]]:
        return [self.demos for _ in texts]


def random_demos(pool: list[Example], k: int, seed: int) -> FixedDemos:
    return FixedDemos(random.Random(seed).sample(pool, min(k, len(pool))))


def stratified_demos(pool: list[Example], k: int, seed: int) -> FixedDemos:
    """`k` demos spread evenly over the classes (at least one each), in shuffled order."""
    rng = random.Random(seed)
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in pool:
        groups[ex.label or ""].append(ex)
    per_class = max(1, k // len(groups))
    chosen = [
        ex
        for _, rows in sorted(groups.items())
        for ex in rng.sample(rows, min(per_class, len(rows)))
    ]
    rng.shuffle(chosen)
    return FixedDemos(chosen)


class NearestDemos:
    """The `k` train rows closest to each input by sentence embedding; nearest comes last."""

    fixed = False

    def __init__(self, pool: list[Example], k: int, embedder: Any):
        self.pool = pool
        self.k = min(k, len(pool))
        self.embedder = embedder
        self.pool_vectors = embedder.embed([ex.text for ex in pool])  # (N, D)
        self.pool_keys = [normalize_text(ex.text, casefold=True) for ex in pool]

    def select(self, texts: list[str]) -> list[list[Example]]:
        queries = self.embedder.embed(texts)  # (Q, D)
        sims = queries @ self.pool_vectors.T  # (Q, N)
        out = []
        for text, row in zip(texts, sims, strict=True):
            key = normalize_text(text, casefold=True)
            order = np.argsort(-row, kind="stable")
            # never show a row its own text as a demo (matters when predicting train rows)
            picked = [i for i in order[: self.k + 1] if self.pool_keys[i] != key][: self.k]
            out.append([self.pool[i] for i in reversed(picked)])
        return out
