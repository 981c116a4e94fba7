"""A run = strategy + its settings + model + seed; its key is a hash of all of them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.strategy_registry import Resolved, resolve
from bakeoff.task.spec import TaskSpec


@dataclass(frozen=True)
class RunConfig:
    strategy: str
    settings: dict[str, Any]
    model: str
    seed: int
    train_size: int | None = None  # labelled rows it may learn from; None = the whole train split
    data_version: int = 1  # 2, 3, …: re-adapted on the data of that version (bakeoff update)
    warm_start: str | None = None  # the key of a run (same folder) whose weights start this one

    @property
    def key(self) -> str:
        identity: dict[str, Any] = {
            "strategy": self.strategy,
            "settings": self.settings,
            "model": self.model,
            "seed": self.seed,
        }
        if self.train_size is not None:
            identity["train_size"] = self.train_size
        if self.data_version != 1:  # the experiment's own keys stay as they were
            identity["data_version"] = self.data_version
        if self.warm_start is not None:
            identity["warm_start"] = self.warm_start
        blob = json.dumps(identity, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def resolved(self) -> Resolved:
        return resolve(self.strategy)

    @property
    def family(self) -> str:
        """The label without wording, seed and train size: one line on a learning curve."""
        return " ".join(p for p in self.label.split(" ") if not p.startswith(("w", "n=")))

    @property
    def label(self) -> str:
        """A short human name, e.g. `few-shot knn×8 plain w1`."""
        s = self.settings
        parts = [self.strategy]
        size = [f"n={self.train_size}"] if self.train_size is not None else []
        size += [f"v{self.data_version}"] if self.data_version != 1 else []
        size += ["warm"] if self.warm_start is not None else []
        if not self.resolved.uses_prompt:
            return " ".join([self.strategy, *size])
        if s.get("shots"):
            parts.append(f"{s['demos']}×{s['shots']}")
        parts.append(s.get("format", "auto"))
        if s.get("decode") == "generate":
            parts.append("gen")
        elif s.get("decode") == "free":  # without the task's output shape: its own candidate
            parts.append("free")
        if s.get("calibrate"):
            parts.append("calibrated")
        if "wording" in self.resolved.axes or self.resolved.kind == "trained":
            parts.append(f"w{s.get('wording', 0)}")  # a search chooses its own instruction
        return " ".join(parts + size)


def run_settings(
    resolved: Resolved,
    base: dict[str, Any],
    wording: int,
    demos: str,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings that make a run what it is: prompt knobs, wording, demos, training."""
    few = resolved.uses_demos
    settings = {
        **base,
        "wording": wording,
        "demos": demos if few else "random",
        "shots": base.get("shots", 0) if few else 0,
    }
    if resolved.kind == "trained":
        settings["training"] = training or {}
    return settings


def check_wordings(task: TaskSpec, runs: list[RunConfig], where: str = "--wordings") -> None:
    """Every run's wording must exist in the task (user wordings first, then built-ins)."""
    from bakeoff.prompting.wordings import wordings

    available = len(wordings(task))
    for run in runs:
        if run.settings["wording"] >= available:
            raise BakeoffError(
                f"{where}: wording {run.settings['wording']} does not exist; this task has "
                f"{available} (0-{available - 1}); add more under `prompt.instructions`."
            )
