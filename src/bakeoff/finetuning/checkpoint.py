"""Atomic training checkpoints: trainable weights (safetensors) + loop state, for exact resume."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def rng_state() -> dict[str, Any]:
    """Every RNG's state as JSON-able values (torch's as a tensor)."""
    version, internal, gauss = random.getstate()
    state: Any = np.random.get_state()
    name, keys, pos, has_gauss, cached = state
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        # a GPU's dropout draws from its own generators
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: Path,
    weights: dict[str, torch.Tensor],
    best: dict[str, torch.Tensor] | None,
    loop: dict[str, Any],
    optim: dict[str, Any],
) -> None:
    """Write to a temporary folder, then rename over the old checkpoint."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in weights.items()}, tmp / "weights.safetensors"
    )
    if best is not None:
        save_file({k: v.contiguous() for k, v in best.items()}, tmp / "best.safetensors")
    (tmp / "loop.json").write_text(json.dumps(loop), encoding="utf-8")
    # optimizer/scheduler/RNG state: tensors and plain values only, read back with weights_only
    torch.save({**optim, "rng": rng_state()}, tmp / "optim.pt")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    if not (folder / "loop.json").exists():
        return None
    best_path = folder / "best.safetensors"
    return {
        "weights": load_file(folder / "weights.safetensors"),
        "best": load_file(best_path) if best_path.exists() else None,
        "loop": json.loads((folder / "loop.json").read_text(encoding="utf-8")),
        "optim": torch.load(folder / "optim.pt", weights_only=True),
    }
