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
        if self.strategy == "encoder-head":
            return self.strategy
        if s.get("shots"):
            parts.append(f"{s['demos']}×{s['shots']}")
        parts.append(s.get("format", "auto"))
        if s.get("decode") == "generate":
            parts.append("gen")
        if s.get("calibrate"):
            parts.append("calibrated")
        parts.append(f"w{s.get('wording', 0)}")
        return " ".join(parts)


PROMPT_STRATEGIES = ("zero-shot", "few-shot")
TRAINED_STRATEGIES = ("lora", "full", "prompt-tuning", "encoder-head")
STRATEGIES = (
    *PROMPT_STRATEGIES,
    *TRAINED_STRATEGIES,
    "lora+few-shot",
    "full+few-shot",
    "prompt-tuning+few-shot",
)


def expand(
    strategies: list[str],
    base: dict[str, Any],
    wordings: list[int],
    demo_methods: list[str],
    model: str,
    seed: int,
    training: dict[str, Any] | None = None,
) -> list[RunConfig]:
    """Every strategy × wording (× demo method when it has demos), in a stable order.

    Prompt strategies try every wording; trained ones use the first (training is the costly
    part) and carry the training settings in their identity.
    """
    runs = []
    for strategy in strategies:
        few = strategy.endswith("few-shot")
        trained = strategy not in PROMPT_STRATEGIES
        for method in demo_methods if few else ["random"]:
            for wording in wordings[:1] if trained else wordings:
                shots = base.get("shots", 0) if few else 0
                settings = {**base, "wording": wording, "demos": method, "shots": shots}
                if trained:
                    settings["training"] = (training or {}).get(strategy.split("+")[0], {})
                runs.append(RunConfig(strategy, settings, model, seed))
    return runs
