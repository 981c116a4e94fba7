"""Where the transformers backend and training run: `--device auto|cpu|cuda[:N]`.

`auto` takes the first CUDA GPU torch can use, else the CPU. A GPU asked for by name must
exist: a machine without one gets an error that says what to run instead, not a silent CPU run
(booked at the CPU's price while the user thinks it ran on the GPU).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from bakeoff.errors import BakeoffError

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


def resolve_device(requested: str = "auto") -> str:
    """'cpu' or 'cuda:N' for `requested` (auto | cpu | cuda | cuda:N)."""
    if not re.match(DEVICE_PATTERN, requested):
        raise BakeoffError(
            f"--device {requested}: not a device — use auto, cpu, cuda or cuda:N (N: the GPU's "
            "index, as nvidia-smi lists them)."
        )
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        built = "built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
        raise BakeoffError(
            f"--device {requested}: this torch ({torch.__version__}) {built} — run with "
            "--device cpu (or auto), or install a CUDA build of torch on a machine with a GPU."
        )
    index = int(requested.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise BakeoffError(
            f"--device {requested}: this machine has {count} CUDA GPU(s), numbered 0 to "
            f"{count - 1}."
        )
    return f"cuda:{index}"


def is_gpu(device: str | torch.device) -> bool:
    return torch.device(device).type == "cuda"


def module_device(module: Any) -> torch.device:
    """The device of a module's weights (the CPU for a module without any)."""
    for parameter in module.parameters():
        return torch.device(parameter.device)
    return torch.device("cpu")


def to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch's tensors on `device` (other values as they are); no copy where they are."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def free_gpu_bytes(device: str | torch.device) -> int:
    """Bytes free on a CUDA device now (0 on the CPU: its batches are sized by other means)."""
    if not is_gpu(device):
        return 0
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)
