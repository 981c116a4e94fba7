"""One place that turns measurements into costs, for every strategy alike.

FLOPs estimates (Kaplan et al.): a forward pass costs 2·N per token. Training all weights costs
6·N per token (forward, backward through activations, weight gradients). With frozen weights
(LoRA, prompt tuning) the weight-gradient term (2·N) is skipped for them, and the trainable
parameters cost the full 6 per token: (4·N + 6·N_trainable) per token.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path


def training_flops(n_params: int, n_trainable: int, tokens: int) -> float:
    if n_trainable >= n_params:
        return 6.0 * n_params * tokens
    return (4.0 * n_params + 6.0 * n_trainable) * tokens


def inference_flops(n_params: int, tokens: float) -> float:
    return 2.0 * n_params * tokens


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (includes earlier runs in the process)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def folder_size_mb(folder: Path) -> float:
    if not folder.exists():
        return 0.0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


@dataclass(frozen=True)
class Usage:
    """What predicting the test split cost, per row, and what adapting took."""

    device: str
    rows: int
    adapt_seconds: float
    predict_seconds: float
    rows_per_second: float
    latency_ms_per_row: float
    prompt_tokens_per_row: float
    output_tokens_per_row: float
    flops_per_row: float
    # how latency was found (cost/clock.py): the wall clock when the machine was quiet, else
    # CPU time over threads; the raw figures stay beside it
    latency_method: str = "wall clock"
    wall_ms_per_row: float | None = None
    cpu_ms_per_row: float | None = None
    others_share: float | None = None  # of the machine's CPU used by other processes meanwhile
    contended: bool = False
