"""Less work per training step at the same loss (finetuning/step_speed.py): the attention
kernel chosen by measurement, LoRA inputs left in the compute dtype, one dropout draw per
input. The faster step must give the loss and gradients of the plain one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bakeoff.finetuning import step_speed
from bakeoff.finetuning.step_speed import FastSteps, SharedDropout
from tests.unit.test_cli_run import make_task


def _lora_job(tmp_path: Path, model_dir: Path, dropout: float, bf16: bool = False) -> Any:
    from bakeoff.finetuning.causal_job import CausalJob
    from bakeoff.finetuning.config import LoraSettings
    from bakeoff.finetuning.lora import apply_lora
    from bakeoff.models.hf import HFCausalLM
    from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
    from bakeoff.strategy import RunContext
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(model_dir))
    if bf16:  # frozen weights in bf16, adapters in fp32: the trainer's layout under autocast
        lm.model.to(torch.bfloat16)
    lm.model = apply_lora(lm.model, settings=LoraSettings(dropout=dropout), init_ids=[])
    torch.manual_seed(0)
    for name, param in lm.model.named_parameters():
        if "lora_B" in name:  # LoRA starts at B = 0; make its gradient path non-trivial
            torch.nn.init.normal_(param, std=0.02)
    candidate = PromptStrategy("few-shot", PromptSettings(shots=2)).adapt(
        task, lm, splits.train, [], RunContext()
    )
    return CausalJob(lm, candidate, task, splits.train, [], 256, 0)


def _loss_and_grads(job: Any, fast: bool, dtype: torch.dtype) -> tuple[float, dict[str, Any]]:
    batch = job.collate(list(range(6)))
    job.module.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        if fast:
            with FastSteps(job.module).forward(batch["input_ids"], dtype) as kernel:
                assert kernel == "math"
                loss = job.loss(job.module, batch)
        else:
            loss = job.loss(job.module, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in job.module.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_the_fast_step_gives_the_plain_steps_loss_and_gradients(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype
) -> None:
    job = _lora_job(tmp_path, tiny_model_dir, dropout=0.0, bf16=dtype == torch.bfloat16)
    monkeypatch.setattr(step_speed, "_kernel_for", lambda *_: "math")
    plain_loss, plain = _loss_and_grads(job, fast=False, dtype=dtype)
    fast_loss, fast = _loss_and_grads(job, fast=True, dtype=dtype)
    # fp32: only the attention kernel's summation order differs; bf16: the skipped cast
    # round-trip was exact, the kernels differ by bf16 rounding
    tol = {"rtol": 1e-4, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 2e-3}
    assert fast_loss == pytest.approx(plain_loss, rel=tol["rtol"])
    assert plain.keys() == fast.keys() and plain
    for name, grad in plain.items():
        torch.testing.assert_close(fast[name], grad, **tol)
    casts = [m.cast_input_dtype_enabled for m in job.module.modules() if hasattr(m, "lora_A")]
    assert casts and all(casts)  # restored: inference without autocast needs the cast


def test_adapters_reading_one_input_share_one_dropout_draw(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    job = _lora_job(tmp_path, tiny_model_dir, dropout=0.5)
    steps = FastSteps(job.module)
    shared = steps.dropouts
    layers = job.module.base_model.model.model.layers
    per_layer = [
        {id(getattr(layer.self_attn, p).lora_dropout["default"]) for p in ("q_proj", "k_proj")}
        for layer in layers
    ]
    assert all(len(ids) == 1 for ids in per_layer)  # q and k of a block: one module
    assert len(set.union(*per_layer)) == len(layers) == len(shared)  # blocks: their own

    # in a real training forward, q's and k's adapters are fed the one dropped tensor
    seen: dict[str, list[torch.Tensor]] = {"q_proj": [], "k_proj": []}
    attention = layers[0].self_attn
    for name, inputs in seen.items():
        lora_a = getattr(attention, name).lora_A["default"]
        lora_a.register_forward_hook(lambda _m, args, _out, into=inputs: into.append(args[0]))
    job.module.train()
    batch = job.collate([0, 1])
    with steps.forward(batch["input_ids"], torch.float32):
        job.loss(job.module, batch)
    (q_in,), (k_in,) = seen["q_proj"], seen["k_proj"]
    assert q_in is k_in and bool((q_in == 0).any())  # one draw, and it dropped something
    assert all(d._last is None for d in shared)  # forgotten after the forward

    dropout = SharedDropout(0.5).train()
    torch.manual_seed(0)
    x = torch.ones(64, 512)
    first = dropout(x)
    assert dropout(x) is first  # the same input: the same draw (q, k, v)
    again = dropout(x.clone())  # a new input: a new draw
    assert not torch.equal(again, first)
    assert abs(float((first == 0).float().mean()) - 0.5) < 0.02  # 32,768 draws: p ± 0.02
    assert set(first.unique().tolist()) == {0.0, 2.0}  # kept values scaled by 1 / (1 - p)
    dropout.eval()
    assert dropout(x) is x
    dropout.forget()


def test_the_attention_kernel_is_timed_once_per_shape_and_only_for_short_rows(
    tiny_lm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed: list[tuple[str, tuple[int, ...]]] = []

    def fake_time(kernel: str, shape: tuple[int, ...], dtype: torch.dtype) -> float:
        timed.append((kernel, shape))
        return 1.0 if kernel == "math" else 2.0

    monkeypatch.setattr(step_speed, "_time_kernel", fake_time)
    monkeypatch.setattr(step_speed, "_FASTEST", {})
    steps = FastSteps(tiny_lm.model)
    heads = tiny_lm.model.config.num_attention_heads
    for width in (20, 30):
        ids = torch.zeros(4, width, dtype=torch.long)
        assert steps.kernel(ids, torch.float32) == "math"
    assert [k for k, _ in timed] == ["math", "flash"]  # 20 and 30 tokens: one bucket (32)
    assert timed[0][1][:3] == (4, heads, 32)
    long_rows = torch.zeros(4, step_speed.LONGEST_PROBED + 1, dtype=torch.long)
    assert steps.kernel(long_rows, torch.float32) == "default"
    assert steps.kernel(None, torch.float32) == "default"
    assert len(timed) == 2


def test_the_real_timing_runs_both_kernels() -> None:
    for kernel in ("math", "flash"):
        assert step_speed._time_kernel(kernel, (2, 2, 32, 16), torch.float32) > 0
