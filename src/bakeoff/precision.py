"""Precision and threads chosen by measurement on this machine, not by CPU flags.

A CPU that reports bf16 instructions is not always faster in bf16: on an AMD EPYC bf16 scoring
ran ~3× faster than fp32, on an Intel Xeon with the same flags 0.87× (issue 19). So `auto`
times the bundled model's shapes — a scoring batch through one MLP block, and a training step
through it (forward and backward, frozen weights as in LoRA) — in fp32 and in bf16, picks the
faster for inference and for training separately, and caches the verdict with its figures per
CPU model, usable cores and torch version (`precision.json` in the cache folder). A GPU decides
by its own support; a CPU without bf16 instructions stays fp32 without probing.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch

from bakeoff.atomic import write_json_atomic
from bakeoff.cache import cache_root
from bakeoff.cores import available_cores
from bakeoff.device import is_gpu

Purpose = Literal["inference", "training"]
MARGIN = 1.10  # bf16 must be this much faster: it costs a little agreement with fp32
# SmolLM2-135M's MLP (hidden 576, intermediate 1536) on a batch of 8 rows × 64 tokens
HIDDEN, INTERMEDIATE, TOKENS = 576, 1536, 512
VERDICT_FILE = "precision.json"

Probe = Callable[[Purpose, torch.dtype], float]  # milliseconds per step


@cache
def _first_cpu() -> dict[str, str]:
    """/proc/cpuinfo's entry for the first processor (empty where unreadable)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the first processor is enough
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_has_bf16() -> bool:
    flags = _first_cpu().get("flags", "").split()
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def cpu_model() -> str:
    """The CPU's name with its family and model numbers ("AMD EPYC" alone names several
    generations) and whether it has AMX."""
    info = _first_cpu()
    if "model name" not in info:
        import platform

        return platform.processor() or platform.machine()
    amx = ", AMX" if "amx_bf16" in info.get("flags", "") else ""
    return f"{info['model name']} (family {info.get('cpu family')}, model {info.get('model')}{amx})"


@cache
def configure_threads() -> dict[str, int]:
    """torch's compute threads, capped at the cores this process may use (a container with a
    2-CPU quota on a 64-core host would otherwise start 32 threads that fight for 2 cores)."""
    cores, before = available_cores(), torch.get_num_threads()
    if before > cores:
        torch.set_num_threads(cores)
    return {"available_cores": cores, "torch_threads": torch.get_num_threads(), "default": before}


def _block(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    block = torch.nn.Sequential(
        torch.nn.Linear(HIDDEN, INTERMEDIATE),
        torch.nn.SiLU(),
        torch.nn.Linear(INTERMEDIATE, HIDDEN),
    )
    return block.to(dtype).requires_grad_(False)


def time_block(purpose: Purpose, dtype: torch.dtype, repeats: int = 1, steps: int = 6) -> float:
    """Milliseconds per step at the bundled model's shapes (the minimum over repeats)."""
    block = _block(dtype)
    x = torch.randn(TOKENS, HIDDEN)
    bf16 = dtype == torch.bfloat16

    def step() -> None:
        if purpose == "inference":
            with torch.inference_mode():
                block(x.to(dtype))
            return
        inputs = x.clone().requires_grad_(True)  # gradients flow through frozen weights
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = block(inputs.to(dtype) if bf16 else inputs)
        out.float().square().mean().backward()

    step()  # warm-up: kernel selection, allocations
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return 1000 * best


Precision = Literal["fp32", "bf16", "fp16"]
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class Choice:
    precision: Precision
    why: str
    fp32_ms: float | None = None
    bf16_ms: float | None = None


def decide(fp32_ms: float, bf16_ms: float, margin: float = MARGIN) -> Choice:
    """bf16 only where it measured faster by `margin`; the figures go with the choice."""
    ratio = fp32_ms / bf16_ms if bf16_ms > 0 else 0.0
    if ratio >= margin:
        why = f"measured: bf16 {ratio:.2f}× as fast as fp32"
        return Choice("bf16", why, fp32_ms, bf16_ms)
    why = f"measured: bf16 only {ratio:.2f}× as fast as fp32 (needs {margin:.2f}×)"
    return Choice("fp32", why, fp32_ms, bf16_ms)


def machine_key() -> str:
    threads = configure_threads()["torch_threads"]
    return (
        f"{cpu_model()} | {available_cores()} cores, {threads} threads | torch {torch.__version__}"
    )


def _verdict_path() -> Path:
    return cache_root() / VERDICT_FILE


def _read_verdicts() -> dict[str, Any]:
    try:
        data = json.loads(_verdict_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def measure_verdict(probe: Probe = time_block, rounds: int = 5) -> dict[str, Choice]:
    """Probe both purposes in both precisions and decide each. fp32 and bf16 take turns and
    each keeps its best round, so a busy spell of the machine hits both, not one."""
    verdict = {}
    for purpose in ("inference", "training"):
        best = {torch.float32: math.inf, torch.bfloat16: math.inf}
        for _ in range(rounds):
            for dtype in best:
                best[dtype] = min(best[dtype], probe(purpose, dtype))
        verdict[purpose] = decide(best[torch.float32], best[torch.bfloat16])
    return verdict


@cache
def cpu_verdict() -> dict[str, Choice]:
    """This machine's verdict: from the cache file, else measured now (a few seconds) and
    cached. Without bf16 instructions, fp32 without a probe (bf16 would be emulated)."""
    if not cpu_has_bf16():
        no = Choice("fp32", "the CPU has no bf16 instructions")
        return {"inference": no, "training": no}
    key = machine_key()
    verdicts = _read_verdicts()
    saved = verdicts.get(key)
    if isinstance(saved, dict):
        try:
            return {p: Choice(**saved[p]) for p in ("inference", "training")}
        except (KeyError, TypeError):
            pass  # an older or damaged entry: measure again
    verdict = measure_verdict()
    verdicts[key] = {p: asdict(c) for p, c in verdict.items()}
    with contextlib.suppress(OSError):  # a read-only cache: measure again next time
        write_json_atomic(_verdict_path(), verdicts)
    return verdict


def choose(requested: str, purpose: Purpose, device: str = "cpu") -> Choice:
    """The precision to run in on `device` (cpu | cuda:N), and why: the user's, the GPU's
    support (bf16, else fp16 — training it with loss scaling), or the CPU's measurement."""
    if requested != "auto":
        return Choice(
            requested if requested in DTYPES else "fp32",  # type: ignore[arg-type]
            f"set by the user ({requested})",
        )
    if is_gpu(device):
        if torch.cuda.is_bf16_supported():
            return Choice("bf16", "the GPU supports bf16")
        scaled = " with loss scaling" if purpose == "training" else ""
        return Choice("fp16", f"the GPU has no bf16: fp16{scaled}")
    return cpu_verdict()[purpose]


def compute_dtype(requested: str, purpose: Purpose, device: str = "cpu") -> torch.dtype:
    return DTYPES[choose(requested, purpose, device).precision]


def machine_summary(
    inference: str = "auto", training: str = "auto", device: str = "cpu"
) -> dict[str, Any]:
    """What a run record says about where it ran and in which precision, and why."""
    return {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "threads": configure_threads(),
        "torch": torch.__version__,
        "device": device,
        "gpu": torch.cuda.get_device_name(torch.device(device)) if is_gpu(device) else None,
        "precision": {
            "inference": asdict(choose(inference, "inference", device)),
            "training": asdict(choose(training, "training", device)),
        },
    }
