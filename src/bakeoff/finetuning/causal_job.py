"""Training rows for a causal LM: the paired prompt's text, then the answer; loss on the answer."""

from __future__ import annotations

import random
from typing import Any

import torch

from bakeoff.errors import BakeoffError
from bakeoff.finetuning.trainer import Evaluation, evaluate_rows
from bakeoff.models.hf import HFCausalLM
from bakeoff.prompting.strategies import PromptCandidate
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

IGNORE = -100  # label id the loss skips


def answer_text(candidate: PromptCandidate, lm: HFCausalLM, example: Example) -> str:
    """What the model must produce after the prompt: the verbaliser, or the output + its end."""
    task, layout = candidate.task, candidate.layout
    if task.kind == "classification":
        return layout.option_text(candidate.answer_words(example))
    end = "\n" if layout.format == "plain" else (lm.tokenizer.eos_token or "\n")
    return layout.option_text(candidate.answer_words(example)) + end  # in the task's shape


class CausalJob:
    """A TrainJob over a (PEFT-wrapped or full) causal LM."""

    def __init__(
        self,
        lm: HFCausalLM,
        candidate: PromptCandidate,
        task: TaskSpec,
        train: list[Example],
        validation: list[Example],
        max_length: int | None,
        seed: int,
        answer_logits_only: bool = True,
    ):
        self.lm, self.candidate, self.task = lm, candidate, task
        # the LM head only where an answer token is predicted (not with soft prompts, which
        # shift positions inside forward())
        self.answer_logits_only = answer_logits_only
        self.module = lm.model
        self.validation, self.validation_rows = validation, len(validation)
        self.classes = task.classes
        self.train_probe = random.Random(seed).sample(train, min(len(train), 256))
        prompts = candidate.prompts([ex.text for ex in train])
        self.rows: list[tuple[list[int], list[int]]] = []
        limit = max_length or lm.context_tokens
        too_long = 0
        longest = 0
        for ex, prompt in zip(train, prompts, strict=True):
            prompt_ids = lm.encode_prompt(prompt)
            answer_ids = lm.encode_continuation(answer_text(candidate, lm, ex))
            ids = prompt_ids + answer_ids
            longest = max(longest, len(ids))
            if len(ids) > limit:
                too_long += 1
            self.rows.append((ids, [IGNORE] * len(prompt_ids) + answer_ids))
        if too_long:
            what = "the model's context of" if max_length is None else "--max-length"
            fix = "" if max_length is None else f"raise --max-length to {longest}, "
            raise BakeoffError(
                f"{task.where}: {too_long} of {len(train)} training rows are longer than "
                f"{what} {limit} tokens (prompt + answer; the longest is {longest}) — "
                f"{fix}use fewer shots, or shorten the inputs."
            )
        self.lengths = [len(ids) for ids, _ in self.rows]

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        width = max(self.lengths[i] for i in indices)
        pad = self.lm.tokenizer.pad_token_id
        ids = torch.full((len(indices), width), pad, dtype=torch.long)
        labels = torch.full((len(indices), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):  # right padding: (B, T)
            row_ids, row_labels = self.rows[i]
            ids[row, : len(row_ids)] = torch.tensor(row_ids)
            labels[row, : len(row_ids)] = torch.tensor(row_labels)
            mask[row, : len(row_ids)] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    def loss(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.answer_logits_only:
            loss: torch.Tensor = module(**batch).loss
            return loss
        # Position t predicts token t+1: project only the positions whose next token is an
        # answer token — a row has 1-2 of them, not its ~40 (the vocabulary projection and its
        # cross-entropy were a fifth of a LoRA step on SmolLM2). Same loss, same gradients.
        answer = batch["labels"][:, 1:] != IGNORE  # (B, T-1)
        keep = torch.zeros_like(batch["labels"], dtype=torch.bool)  # (B, T)
        keep[:, :-1] = answer
        out = module(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            logits_to_keep=keep,
        )
        targets = batch["labels"][:, 1:][answer]  # row-major, as hidden_states[keep]
        return torch.nn.functional.cross_entropy(out.logits.float(), targets)

    @torch.no_grad()
    def evaluate(self, split: str, rows: int) -> Evaluation:
        examples = (self.validation if split == "validation" else self.train_probe)[:rows]
        self.candidate.forget_prior()  # the weights changed since the last evaluation
        return evaluate_rows(self.task, examples, self.candidate.predict)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.module.parameters() if p.requires_grad], "lr": lr}]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p for n, p in self.module.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        own = dict(self.module.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value)
