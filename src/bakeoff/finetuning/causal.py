"""LoRA, full fine-tuning and prompt tuning of a causal LM, each paired with a prompt strategy.

The paired prompt (zero-shot instruction or few-shot demos) is used in training and at
inference: `lora+few-shot` is the hybrid. The result is a PromptCandidate over the tuned model,
so it is scored, reported and served exactly like a prompted one.

    bakeoff run --task examples/sst2/task.yaml --strategy lora --train-size 1000 --out runs/lora
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from bakeoff.config import StrictModel
from bakeoff.cost.ledger import folder_size_mb
from bakeoff.errors import BakeoffError
from bakeoff.finetuning.causal_job import CausalJob
from bakeoff.finetuning.causal_method import CausalMethod
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.label_list import label_list_reason, short_instruction
from bakeoff.finetuning.methods import trainable_parameters
from bakeoff.finetuning.trainer import train_for_run, training_summary
from bakeoff.models.base import LanguageModel, Progress
from bakeoff.models.hf import HFCausalLM
from bakeoff.precision import compute_dtype
from bakeoff.prompting.artifact import save_prompt_artifact
from bakeoff.prompting.strategies import PromptCandidate
from bakeoff.strategy import Prediction, RunContext, Strategy
from bakeoff.strategy_registry import Resolved
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


def _upcast_trainable(model: torch.nn.Module) -> torch.nn.Module:
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return model


class TunedCandidate:
    """A prompt candidate whose model weights were trained."""

    def __init__(self, prompt: PromptCandidate, method: CausalMethod, training: dict[str, Any]):
        self.prompt, self.method = prompt, method
        self.training: dict[str, Any] | None = training

    def describe(self) -> dict[str, Any]:
        return {**self.prompt.describe(), "method": self.method.name}

    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None
    ) -> list[Prediction]:
        return self.prompt.predict(examples, progress)

    def save(self, folder: Path) -> None:
        training = self.training or {}
        name = self.method.name
        save_prompt_artifact(self.prompt, folder, name, name, training)
        lm = self.prompt.model
        assert isinstance(lm, HFCausalLM)
        if self.method.adapter:  # standard PEFT layout: PeftModel.from_pretrained(base, adapter)
            lm.model.save_pretrained(folder / "adapter", safe_serialization=True)
        else:
            lm.model.save_pretrained(folder / "model", safe_serialization=True)
            lm.tokenizer.save_pretrained(folder / "model")
        training["artifact_mb"] = folder_size_mb(folder)


def load_warm_start(model: torch.nn.Module, artifact: Path, method: CausalMethod) -> None:
    """Start from a saved candidate's trained weights (its adapter or its whole model)."""
    from safetensors.torch import load_file

    if method.adapter:
        from peft import set_peft_model_state_dict

        weights = artifact / "adapter" / "adapter_model.safetensors"
        loaded = set_peft_model_state_dict(model, load_file(weights))
        # layers this model does not adapt would be dropped; layers it adapts beyond the
        # champion's start at LoRA's zero update, i.e. as the champion
        unexpected = list(getattr(loaded, "unexpected_keys", []))
        if unexpected:
            raise BakeoffError(
                f"{weights}: {len(unexpected)} of its adapter weights belong to layers this "
                f"model does not adapt (e.g. {unexpected[0]}) — a warm start needs the "
                "champion's LoRA layers: set `lora: {target_modules: …}` to the layers its "
                "record's `training.adapted` names"
            )
    else:
        folder = artifact / "model"
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(folder.glob("*.safetensors")):  # one file, or the shards
            state.update(load_file(shard))
        missing, unexpected = model.load_state_dict(state, strict=False)
        tied = {"lm_head.weight"}  # saved once, as the input embeddings
        if unexpected or set(missing) - tied:
            raise BakeoffError(
                f"{folder}: its weights do not fit this model ({len(unexpected)} unexpected, "
                f"{len(set(missing) - tied)} missing) — a warm start needs the same base model"
            )


REFIT_ROWS = 500  # validation rows a searched prompt's mean prior is refitted on after training


class CausalFineTune:
    """A CausalMethod on a copy of the base model, with its paired prompt, by the shared loop."""

    uses_model = True

    def __init__(
        self,
        name: str,
        method: CausalMethod,
        prompt_strategy: Strategy,
        train_config: TrainConfig,
        settings: StrictModel | None = None,
        schedule_defaults: Mapping[str, Any] | None = None,
    ):
        self.name, self.method, self.prompt_strategy = name, method, prompt_strategy
        self.train_config, self.settings = train_config, settings
        self.schedule_defaults = schedule_defaults or {}  # the registration's lr and epochs

    @classmethod
    def from_run(
        cls, method: CausalMethod, settings: dict[str, Any], resolved: Resolved
    ) -> CausalFineTune:
        training = settings["training"]
        own = resolved.main
        method_settings = None
        if own.settings is not None and own.settings_key is not None:
            method_settings = own.settings.model_validate(training.get(own.settings_key, {}))
        assert resolved.prompt is not None  # trained causal methods always pair with a prompt
        prompt_only = Resolved(resolved.prompt.name, None, resolved.prompt)
        prompt_strategy = prompt_only.build(settings)  # a fixed prompt, or a prompt search
        config = TrainConfig.model_validate(training["train"])
        return cls(
            resolved.name, method, prompt_strategy, config, method_settings, own.training_defaults
        )

    def _make_trainable(
        self, base: torch.nn.Module, init_ids: list[int], classes: int
    ) -> torch.nn.Module:
        model = self.method.make_trainable(
            base, settings=self.settings, init_ids=init_ids, classes=classes
        )
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
        # Frozen weights in the compute dtype (bf16, or fp16 on a GPU without bf16) spare a
        # cast of every weight at every step under autocast (1.7x tokens/s for LoRA on this
        # CPU); the trainable ones stay fp32.
        dtype = compute_dtype(self.train_config.precision, "training", model.device)
        reduced = self.method.frozen_base and dtype != torch.float32
        # never train the shared base model in place: a copy, made reduced directly if frozen
        lm = model.copy(dtype if reduced else None)
        # the prompt is chosen (a search runs) on the base weights, then trained with
        candidate = self.prompt_strategy.adapt(task, lm, train, validation, ctx)
        assert isinstance(candidate, PromptCandidate)  # every prompt strategy makes one
        setting, instruction = self.train_config.label_list, candidate.layout.instruction
        label_list_note = label_list_reason(setting, task, instruction)
        if label_list_note is not None:  # a long label list is cost, not help, to a tuned model
            candidate.layout = dataclasses.replace(
                candidate.layout, instruction=short_instruction(task)
            )
        fitted = candidate.settings.prior  # a search's mean calibration, on the base weights
        if fitted is not None:  # trains and evaluates uncalibrated, refitted after training
            candidate.settings = candidate.settings.model_copy(update={"prior": None})
        init_ids = lm.encode_continuation(candidate.layout.instruction or task.name)
        classes = task.classes
        lm.model = self._make_trainable(lm.model, init_ids, classes)
        if ctx.warm_start is not None:
            load_warm_start(lm.model, ctx.warm_start, self.method)
        soft_prompt = self.method.soft_prompt
        lm.cache_prefix = not soft_prompt  # soft prompts live inside forward()
        job = CausalJob(
            lm,
            candidate,
            task,
            train,
            validation,
            self.train_config.max_length,
            ctx.seed,
            answer_logits_only=not soft_prompt,
        )
        report = train_for_run(job, self.train_config, ctx, self.schedule_defaults)
        # predict as the prompts do: in the reduced dtype where they do and it is this one
        keep_reduced = reduced and model.inference_dtype == dtype
        lm.inference_dtype = dtype if keep_reduced else torch.float32
        if reduced and not keep_reduced:  # predict on the exact fp32 base, as the prompts do
            trained = {name: p.detach().float() for name, p in job.trainable_state().items()}
            lm.model = job.module = None  # free the reduced copy before making the fp32 one
            lm.model = self._make_trainable(model.copy().model, init_ids, classes)
            lm.weights_reduced = False
            job.module = lm.model
            job.load_trainable_state(trained)
        lm.model.eval()
        candidate.forget_prior()  # a contextual prior is measured on the trained weights
        if fitted is not None:
            candidate.refit_prior(validation[:REFIT_ROWS])
        summary = training_summary(report, model.n_parameters, trainable_parameters(lm.model))
        if label_list_note is not None:
            summary["prompt"] = label_list_note
        if self.method.explain_settings is not None and self.settings is not None:
            summary["adapted"] = self.method.explain_settings(self.settings, classes)
        return TunedCandidate(candidate, self.method, summary)
