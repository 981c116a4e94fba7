"""A run = strategy + its settings + model + seed; its key is a hash of all of them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    strategy: str
    settings: dict[str, Any]
    model: str
    seed: int

    @property
    def key(self) -> str:
        blob = json.dumps(
            {
                "strategy": self.strategy,
                "settings": self.settings,
                "model": self.model,
                "seed": self.seed,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """A short human name, e.g. `few-shot knn×8 plain w1`."""
        s = self.settings
        parts = [self.strategy]
        if s.get("shots"):
            parts.append(f"{s['demos']}×{s['shots']}")
        parts.append(s.get("format", "auto"))
        if s.get("decode") == "generate":
            parts.append("gen")
        if s.get("calibrate"):
            parts.append("calibrated")
        parts.append(f"w{s.get('wording', 0)}")
        return " ".join(parts)


def expand(
    strategies: list[str],
    base: dict[str, Any],
    wordings: list[int],
    demo_methods: list[str],
    model: str,
    seed: int,
) -> list[RunConfig]:
    """Every strategy × wording (× demo method for few-shot), in a stable order."""
    runs = []
    for strategy in strategies:
        few = strategy == "few-shot"
        for method in demo_methods if few else ["random"]:
            for wording in wordings:
                shots = base.get("shots", 0) if few else 0
                settings = {**base, "wording": wording, "demos": method, "shots": shots}
                runs.append(RunConfig(strategy, settings, model, seed))
    return runs
