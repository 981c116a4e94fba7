"""Does it depend on the model? Each strategy measured on several models, side by side.

Prompting "is heavily reliant on the quality and abilities of the pre-trained model", while
fine-tuning can adapt any of them: with two or more models in one experiment, each recipe (a
strategy's settings at one train size, whatever the model) is shown on every model with its CI,
its spread (best model − worst), and whether the paired test on the same test rows separates
the best model's run from the worst's; then the mean spread of prompting against fine-tuning.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bakeoff.analysis.compare import short_model

Candidate = dict[str, Any]


def model_dependence(
    ranked: list[Candidate], compare: Callable[[Candidate, Candidate], dict[str, Any]]
) -> dict[str, Any] | None:
    """The comparison across models; None when the experiment measured one model."""
    groups: dict[tuple[str, int | None], list[Candidate]] = defaultdict(list)
    for c in ranked:
        if not c["own_model"]:  # encoder-head brings its own encoder: not a model comparison
            groups[(c["recipe"], c["train_size"])].append(c)
    models = sorted({short_model(c["model"]) for members in groups.values() for c in members})
    if len(models) < 2:
        return None
    rows = []
    for (recipe, size), members in groups.items():
        if len({short_model(c["model"]) for c in members}) < 2:
            continue
        best, worst = max(members, key=lambda c: c["mean"]), min(members, key=lambda c: c["mean"])
        test = compare(best, worst)
        rows.append(
            {
                "recipe": recipe if size is None else f"{recipe} n={size}",
                "trained": best["trained"],
                "by_model": {
                    short_model(c["model"]): {
                        k: c[k] for k in ("name", "mean", "ci_low", "ci_high")
                    }
                    for c in members
                },
                "best_model": short_model(best["model"]),
                "spread": best["mean"] - worst["mean"],
                "p": test["p"],
                "test": test["test"],
                "significant": test["significant"],
            }
        )
    rows.sort(key=lambda r: (r["trained"], -r["spread"]))

    def mean_spread(trained: bool) -> float | None:
        spreads = [r["spread"] for r in rows if r["trained"] == trained]
        return statistics.fmean(spreads) if spreads else None

    return {
        "models": models,
        "rows": rows,
        "spread": {"prompting": mean_spread(False), "fine_tuning": mean_spread(True)},
    }
