"""Precision chosen by measurement: the decision logic with injected timings (no timed
assertions), the cached verdict, the user's override, and threads capped at usable cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bakeoff import cores, precision
from bakeoff.precision import Choice, choose, decide, measure_verdict


def test_bf16_only_where_it_measured_faster_by_the_margin() -> None:
    assert decide(fp32_ms=30.0, bf16_ms=10.0).precision == "bf16"  # an EPYC-like 3x
    slower = decide(fp32_ms=19.4, bf16_ms=22.3)  # a Xeon-like 0.87x (issue 19)
    assert slower.precision == "fp32" and "0.87×" in slower.why
    assert decide(fp32_ms=10.5, bf16_ms=10.0).precision == "fp32"  # 1.05x: not worth the drift
    assert decide(fp32_ms=11.0, bf16_ms=10.0).precision == "bf16"  # exactly the 1.10x margin


def test_inference_and_training_are_decided_separately() -> None:
    speeds = {("inference", torch.bfloat16): 5.0, ("inference", torch.float32): 10.0}
    speeds |= {("training", torch.bfloat16): 25.0, ("training", torch.float32): 20.0}
    calls: list[tuple[str, torch.dtype]] = []

    def probe(purpose: precision.Purpose, dtype: torch.dtype) -> float:
        calls.append((purpose, dtype))
        noise = 30.0 if len(calls) == 2 else 0.0  # one busy moment on one bf16 round
        return speeds[(purpose, dtype)] + noise

    verdict = measure_verdict(probe, rounds=3)
    assert verdict["inference"].precision == "bf16" and verdict["training"].precision == "fp32"
    assert verdict["inference"].bf16_ms == 5.0  # the best round, not the disturbed one
    assert calls[:2] == [("inference", torch.float32), ("inference", torch.bfloat16)]  # turns


def test_the_verdict_is_measured_once_and_cached_with_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    probes: list[str] = []

    def fake(purpose: precision.Purpose, dtype: torch.dtype) -> float:
        probes.append(purpose)
        return 4.0 if dtype == torch.bfloat16 else 10.0

    monkeypatch.setattr(precision, "time_block", fake)
    monkeypatch.setattr(precision, "measure_verdict", lambda: measure_verdict(fake, rounds=1))
    precision.cpu_verdict.cache_clear()
    try:
        assert choose("auto", "inference").precision == "bf16"
        first = len(probes)
        saved = json.loads((tmp_path / "precision.json").read_text())
        (entry,) = saved.values()
        assert entry["training"] == {
            "precision": "bf16",
            "why": "measured: bf16 2.50× as fast as fp32",
            "fp32_ms": 10.0,
            "bf16_ms": 4.0,
        }
        precision.cpu_verdict.cache_clear()  # a new process: reads the file, probes nothing
        assert choose("auto", "training").precision == "bf16" and len(probes) == first
    finally:
        precision.cpu_verdict.cache_clear()


def test_the_user_and_a_cpu_without_bf16_decide_without_a_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert choose("fp32", "inference") == Choice("fp32", "set by the user (fp32)")
    assert choose("bf16", "training").precision == "bf16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    precision.cpu_verdict.cache_clear()
    try:
        assert choose("auto", "training") == Choice("fp32", "the CPU has no bf16 instructions")
    finally:
        precision.cpu_verdict.cache_clear()


def test_threads_never_exceed_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "_cgroup_quota", lambda: 1.0)  # a 1-CPU container quota
    assert precision.available_cores() == 1
    summary = precision.machine_summary("fp32", "fp32")
    assert summary["cores"] >= 1 and summary["threads"]["torch_threads"] >= 1
    assert summary["precision"]["inference"]["why"] == "set by the user (fp32)"


def test_a_gpu_decides_by_its_support_and_a_cpu_run_on_a_gpu_machine_by_measurement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a GPU: bf16 where it has it, else fp16 (training it with loss scaling); a run on
    the CPU of a machine that has a GPU is decided by the CPU's own verdict, not the GPU's."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert choose("auto", "training", "cuda:0") == Choice("bf16", "the GPU supports bf16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert choose("auto", "training", "cuda:0") == Choice(
        "fp16", "the GPU has no bf16: fp16 with loss scaling"
    )
    assert choose("auto", "inference", "cuda:1").precision == "fp16"
    assert choose("fp32", "training", "cuda:0").precision == "fp32"  # the user wins
    assert precision.compute_dtype("fp16", "inference") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    precision.cpu_verdict.cache_clear()
    try:
        assert choose("auto", "training", "cpu").why == "the CPU has no bf16 instructions"
    finally:
        precision.cpu_verdict.cache_clear()


def test_devices_resolve_or_say_what_to_run_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    from bakeoff.device import resolve_device
    from bakeoff.errors import BakeoffError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(BakeoffError, match=r"--device cuda: .* run with --device cpu"):
        resolve_device("cuda")
    with pytest.raises(BakeoffError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda:0" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(BakeoffError, match=r"2 CUDA GPU\(s\), numbered 0 to 1"):
        resolve_device("cuda:2")


def test_gpu_hours_are_booked_at_the_gpu_price() -> None:
    from bakeoff.cost.tco import hourly_price
    from bakeoff.pricing import Prices

    prices = Prices(cpu_hour_usd=0.1, gpu_hour_usd=2.5)
    assert hourly_price(prices, "cuda:1") == 2.5 and hourly_price(prices, "cpu") == 0.1
