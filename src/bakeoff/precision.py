"""Whether bf16 autocast pays off here: a GPU that supports it, or a CPU with bf16 instructions."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch


@cache
def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def use_bf16(requested: str) -> bool:
    if requested != "auto":
        return requested == "bf16"
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_has_bf16()
