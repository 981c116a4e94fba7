"""Reload a tuned causal-LM candidate: the base (or the saved full model), its adapter in the
precision it was scored with, and the saved prompt over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bakeoff.finetuning.causal import TunedCandidate
from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import DTYPES
from bakeoff.prompting.reload import rebuild_prompt
from bakeoff.task.spec import TaskSpec


def _tuned_model(
    method: CausalMethod, folder: Path, manifest: dict[str, Any], device: str
) -> HFCausalLM:
    if not method.adapter:
        lm = HFCausalLM.load(str(folder / "model"), device=device)
        lm.name = manifest["model"]
        return lm
    from peft import PeftModel

    lm = HFCausalLM.load(manifest["model"], device=device)
    dtype = DTYPES.get(manifest.get("inference_precision", "fp32"), torch.float32)
    reduced = dtype != torch.float32
    if reduced:  # as in the run: a bf16 (or fp16) frozen base, fp32 adapter weights
        lm = lm.copy(dtype)
        lm.inference_dtype = dtype
    model = PeftModel.from_pretrained(lm.model, str(folder / "adapter"))
    for name, param in model.named_parameters():
        if reduced and ("lora_" in name or "prompt_encoder" in name):
            param.data = param.data.float()
    lm.model = model.eval()
    lm.cache_prefix = not method.soft_prompt
    return lm


def load_tuned(
    method: CausalMethod, folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str
) -> TunedCandidate:
    """The tuned model on `device` (cpu | cuda:N), its saved prompt over it."""
    lm = _tuned_model(method, folder, manifest, device)
    prompt = rebuild_prompt(folder, manifest, task, lm, device)
    return TunedCandidate(prompt, method, manifest.get("training", {}))
