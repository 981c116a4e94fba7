"""LoRA, full fine-tuning and prompt tuning of a causal LM, each paired with a prompt strategy.

The paired prompt (zero-shot instruction or few-shot demos) is used in training and at
inference: `lora+few-shot` is the hybrid. The result is a PromptCandidate over the tuned model,
so it is scored, reported and served exactly like a prompted one.

    bakeoff run --task examples/sst2/task.yaml --strategy lora --train-size 1000 --out runs/lora
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bakeoff.cost.ledger import folder_size_mb
from bakeoff.errors import BakeoffError
from bakeoff.experiment.artifact import save_prompt_artifact
from bakeoff.finetuning.causal_job import CausalJob
from bakeoff.finetuning.config import LoraSettings, PromptTuningSettings, TrainConfig
from bakeoff.finetuning.methods import METHODS, trainable_parameters
from bakeoff.finetuning.precision import use_bf16
from bakeoff.finetuning.trainer import train_for_run, training_summary
from bakeoff.models.base import LanguageModel, Progress
from bakeoff.models.hf import HFCausalLM
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings, PromptStrategy
from bakeoff.strategy import Prediction, RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


def _upcast_trainable(model: torch.nn.Module) -> torch.nn.Module:
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return model


class TunedCandidate:
    """A prompt candidate whose model weights were trained."""

    def __init__(self, prompt: PromptCandidate, method: str, training: dict[str, Any]):
        self.prompt, self.method = prompt, method
        self.training: dict[str, Any] | None = training

    def describe(self) -> dict[str, Any]:
        return {**self.prompt.describe(), "method": self.method}

    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None
    ) -> list[Prediction]:
        return self.prompt.predict(examples, progress)

    def save(self, folder: Path) -> None:
        training = self.training or {}
        save_prompt_artifact(self.prompt, folder, self.method, training)
        lm = self.prompt.model
        assert isinstance(lm, HFCausalLM)
        if self.method == "full":
            lm.model.save_pretrained(folder / "model", safe_serialization=True)
            lm.tokenizer.save_pretrained(folder / "model")
        else:  # standard PEFT layout: PeftModel.from_pretrained(base, folder / "adapter")
            lm.model.save_pretrained(folder / "adapter", safe_serialization=True)
        training["artifact_mb"] = folder_size_mb(folder)


class CausalFineTune:
    """One of METHODS on a copy of the base model, trained by the shared loop."""

    uses_model = True

    def __init__(
        self,
        method: str,
        prompt: PromptSettings,
        train_config: TrainConfig,
        lora: LoraSettings | None = None,
        prompt_tuning: PromptTuningSettings | None = None,
    ):
        if method not in METHODS:
            raise BakeoffError(
                f"unknown fine-tuning method '{method}'; choose {', '.join(METHODS)}"
            )
        self.method = method
        self.name = method + ("+few-shot" if prompt.shots else "")
        self.prompt_strategy = PromptStrategy("few-shot" if prompt.shots else "zero-shot", prompt)
        self.train_config = train_config
        self.lora = lora or LoraSettings()
        self.prompt_tuning = prompt_tuning or PromptTuningSettings()

    def _make_trainable(self, base: torch.nn.Module, init_ids: list[int]) -> torch.nn.Module:
        settings = self.lora if self.method == "lora" else self.prompt_tuning
        model = METHODS[self.method](base, settings=settings, init_ids=init_ids)
        return _upcast_trainable(model)

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> TunedCandidate:
        if not isinstance(model, HFCausalLM):
            raise BakeoffError(
                f"{self.name} needs a transformers model, not {type(model).__name__}"
            )
        # Frozen weights in bf16 spare a cast of every weight at every step under autocast
        # (1.7x tokens/s for LoRA on this CPU); the trainable ones stay fp32.
        frozen_bf16 = self.method != "full" and use_bf16(self.train_config.precision)
        # never train the shared base model in place: a copy, made in bf16 directly if frozen
        lm = model.copy(torch.bfloat16 if frozen_bf16 else None)
        candidate = self.prompt_strategy.adapt(task, lm, train, validation, ctx)
        init_ids = lm.encode_continuation(candidate.layout.instruction or task.name)
        lm.model = self._make_trainable(lm.model, init_ids)
        lm.cache_prefix = self.method != "prompt-tuning"  # soft prompts live inside forward()
        job = CausalJob(
            lm,
            candidate,
            task,
            train,
            validation,
            self.train_config.max_length,
            ctx.seed,
            answer_logits_only=self.method != "prompt-tuning",
        )
        report = train_for_run(job, self.train_config, ctx)
        keep_bf16 = frozen_bf16 and model.inference_bf16  # predict as the prompts do: bf16
        lm.inference_bf16 = keep_bf16
        if frozen_bf16 and not keep_bf16:  # predict on the exact fp32 base, as asked
            trained = {name: p.detach().float() for name, p in job.trainable_state().items()}
            lm.model = job.module = None  # free the bf16 copy before making the fp32 one
            lm.model = self._make_trainable(model.copy().model, init_ids)
            lm.weights_bf16 = False
            job.module = lm.model
            job.load_trainable_state(trained)
        lm.model.eval()
        summary = training_summary(report, model.n_parameters, trainable_parameters(lm.model))
        return TunedCandidate(candidate, self.method, summary)
