"""encoder-head: a sentence encoder (MiniLM by default) + a linear head, fine-tuned end to end.

The head starts at the class means of the (normalised) embeddings — a cosine classifier —
so training starts from a sensible decision rule even with 8 labels per class.

    bakeoff run --task examples/sst2/task.yaml --strategy encoder-head --out runs/e
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from bakeoff.artifacts import read_manifest, write_manifest
from bakeoff.cost.ledger import folder_size_mb
from bakeoff.device import module_device, to_device
from bakeoff.errors import BakeoffError
from bakeoff.finetuning.augment import concatenate_same_label
from bakeoff.finetuning.config import ENCODER_HEAD_SCHEDULE, EncoderHeadSettings, TrainConfig
from bakeoff.finetuning.trainer import (
    Evaluation,
    evaluate_rows,
    train_for_run,
    training_summary,
)
from bakeoff.models.base import LanguageModel, Progress
from bakeoff.models.encoder import Embedder
from bakeoff.strategy import Prediction, RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

ENCODER_MAX_TOKENS = 256  # MiniLM was trained on inputs up to 256 word pieces
PROTOTYPE_SCALE = 20.0  # cosine logits × scale: a confident but not saturated start


class EncoderClassifier(torch.nn.Module):
    def __init__(self, encoder: Any, n_labels: int):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), n_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, C)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, with_embeddings: bool = False
    ) -> Any:
        """Logits (B, labels); with `with_embeddings`, (logits, normalised embeddings (B, C))."""
        embeddings = self.embed(input_ids, attention_mask)
        logits = self.head(embeddings)
        return (logits, embeddings) if with_embeddings else logits


def pair_similarity_loss(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SetFit's objective over every pair in the batch: cosine → 1 for same label, → 0 otherwise.

    A batch of 16 rows gives 120 pairs for one forward pass (SetFit encodes two rows per pair).
    """
    sims = embeddings @ embeddings.T  # (B, B); rows are unit vectors
    same = (labels[:, None] == labels[None, :]).to(sims.dtype)
    upper = torch.triu_indices(len(labels), len(labels), 1, device=labels.device)
    return ((sims[upper[0], upper[1]] - same[upper[0], upper[1]]) ** 2).mean()


class EncoderCandidate:
    def __init__(
        self,
        model: EncoderClassifier,
        tokenizer: Any,
        task: TaskSpec,
        encoder_name: str,
        max_length: int,
        training: dict[str, Any] | None = None,
    ):
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.encoder_name, self.max_length = encoder_name, max_length
        self.training = training
        self.labels = task.label_names

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """The texts' tokens, on the model's device."""
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return to_device(dict(tokens), module_device(self.model))

    def describe(self) -> dict[str, Any]:
        return {
            "method": "encoder-head",
            "encoder": self.encoder_name,
            "labels": self.labels,
            "example_prompt": "(no prompt: the encoder reads the input text)",
        }

    @torch.no_grad()
    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None, batch_size: int = 64
    ) -> list[Prediction]:
        was_training = self.model.training
        self.model.eval()
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].text))
        results: dict[int, Prediction] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.encode([examples[i].text for i in chunk])
            probs = torch.softmax(
                self.model(batch["input_ids"], batch["attention_mask"]).float(), -1
            ).cpu()
            tokens = batch["attention_mask"].sum(1).cpu()
            for row, i in enumerate(chunk):
                p = probs[row].tolist()
                best = max(range(len(p)), key=p.__getitem__)
                results[i] = Prediction(
                    examples[i].id,
                    self.labels[best],
                    None,
                    dict(zip(self.labels, p, strict=True)),
                    int(tokens[row]),
                    0,
                )
            if progress:
                progress(len(chunk))
        out = [results[i] for i in range(len(examples))]
        self.model.train(was_training)
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(folder / "model", safe_serialization=True)
        self.tokenizer.save_pretrained(folder / "model")
        save_file(
            {k: v.contiguous() for k, v in self.model.head.state_dict().items()},
            folder / "model" / "head.safetensors",
        )
        manifest = {
            "kind": "trained",
            "method": "encoder-head",
            "model": self.encoder_name,
            "task": self.task.model_dump(mode="json"),
            "labels": self.labels,
            "max_length": self.max_length,
            "training": {k: v for k, v in (self.training or {}).items() if k != "history"},
        }
        write_manifest(folder, "encoder-head", manifest)
        if self.training is not None:
            self.training["artifact_mb"] = folder_size_mb(folder)


class EncoderJob:
    def __init__(
        self,
        candidate: EncoderCandidate,
        train_rows: list[Example],
        validation: list[Example],
        settings: EncoderHeadSettings,
        seed: int,
    ):
        self.candidate, self.classifier = candidate, candidate.model
        self.module: torch.nn.Module = candidate.model
        self.validation, self.settings = validation, settings
        self.validation_rows, self.classes = len(validation), len(candidate.labels)
        self.train_probe = random.Random(seed).sample(train_rows, min(len(train_rows), 256))
        per_class = Counter(ex.label or "" for ex in train_rows)
        self.concat_copies = settings.concat_copies(per_class)
        rows = train_rows + concatenate_same_label(train_rows, self.concat_copies, seed)
        index = {name: i for i, name in enumerate(candidate.labels)}
        enc = candidate.tokenizer(
            [ex.text for ex in rows], truncation=True, max_length=candidate.max_length
        )
        self.ids: list[list[int]] = enc["input_ids"]
        self.targets = [index[ex.label or ""] for ex in rows]
        self.lengths = [len(ids) for ids in self.ids]

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        width = max(self.lengths[i] for i in indices)
        pad = self.candidate.tokenizer.pad_token_id or 0
        ids = torch.full((len(indices), width), pad, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            ids[row, : self.lengths[i]] = torch.tensor(self.ids[i])
            mask[row, : self.lengths[i]] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor([self.targets[i] for i in indices]),
        }

    def loss(self, module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits, embeddings = module(
            batch["input_ids"], batch["attention_mask"], with_embeddings=True
        )
        loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"])
        weight = self.settings.pair_loss_weight
        if weight and len(batch["labels"]) > 1:
            loss = loss + weight * pair_similarity_loss(embeddings.float(), batch["labels"])
        return loss

    def evaluate(self, split: str, rows: int) -> Evaluation:
        examples = (self.validation if split == "validation" else self.train_probe)[:rows]
        return evaluate_rows(self.candidate.task, examples, self.candidate.predict)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return [
            {"params": list(self.classifier.encoder.parameters()), "lr": lr},
            {"params": list(self.classifier.head.parameters()), "lr": self.settings.head_lr},
        ]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return dict(self.module.named_parameters())

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


def prototype_init(model: EncoderClassifier, job: EncoderJob) -> None:
    """Head weights = normalised class-mean embeddings × scale, bias 0."""
    sums = torch.zeros_like(model.head.weight)
    counts = torch.zeros(model.head.weight.shape[0], device=sums.device)
    with torch.no_grad():
        for start in range(0, len(job.ids), 64):
            idx = list(range(start, min(start + 64, len(job.ids))))
            batch = to_device(job.collate(idx), sums.device)
            emb = model.embed(batch["input_ids"], batch["attention_mask"])
            sums.index_add_(0, batch["labels"], emb)
            counts.index_add_(0, batch["labels"], torch.ones(len(idx), device=sums.device))
        means = torch.nn.functional.normalize(sums / counts.clamp(min=1)[:, None], dim=-1)
        model.head.weight.copy_(means * PROTOTYPE_SCALE)
        model.head.bias.zero_()


class EncoderHead:
    name = "encoder-head"
    uses_model = False  # brings its own encoder

    def __init__(
        self,
        train_config: TrainConfig,
        settings: EncoderHeadSettings | None = None,
        schedule_defaults: Mapping[str, Any] | None = None,
    ):
        self.train_config = train_config
        self.settings = settings or EncoderHeadSettings()
        self.schedule_defaults = schedule_defaults or ENCODER_HEAD_SCHEDULE

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> EncoderCandidate:
        if task.kind != "classification":
            raise BakeoffError(
                f"{task.where}: encoder-head classifies; this is a {task.kind} task "
                "— use lora or full for generation."
            )
        torch.manual_seed(ctx.seed)
        embedder = Embedder.load(self.settings.encoder, ctx.device)
        classifier = EncoderClassifier(embedder.model, len(task.label_names)).to(ctx.device)
        if ctx.warm_start is not None:  # the saved candidate's encoder and head
            warm = load_encoder_candidate(
                ctx.warm_start, read_manifest(ctx.warm_start), task, ctx.device
            )
            classifier.load_state_dict(warm.model.state_dict())
        candidate = EncoderCandidate(
            classifier,
            embedder.tokenizer,
            task,
            self.settings.encoder,
            min(self.train_config.max_length or ENCODER_MAX_TOKENS, ENCODER_MAX_TOKENS),
        )
        job = EncoderJob(candidate, train, validation, self.settings, ctx.seed)
        if self.settings.prototype_init and ctx.warm_start is None:
            prototype_init(classifier, job)
        started = time.perf_counter()
        report = train_for_run(job, self.train_config, ctx, self.schedule_defaults)
        classifier.eval()
        n = sum(p.numel() for p in classifier.parameters())
        candidate.training = {
            **training_summary(report, n, n),
            "wall_seconds": time.perf_counter() - started,
            "concat_augment": job.concat_copies,
            "pair_loss_weight": self.settings.pair_loss_weight,
        }
        return candidate


def load_encoder_candidate(
    folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str = "cpu"
) -> EncoderCandidate:
    from transformers import AutoModel, AutoTokenizer

    from bakeoff.models.loading import quiet_transformers

    quiet_transformers()  # no weight-loading bars in `serve` / `predict`
    model_dir = folder / "model"
    encoder = AutoModel.from_pretrained(model_dir, use_safetensors=True)
    classifier = EncoderClassifier(encoder, len(manifest["labels"]))
    classifier.head.load_state_dict(load_file(model_dir / "head.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return EncoderCandidate(
        classifier.to(device).eval(),
        tokenizer,
        task,
        manifest["model"],
        manifest["max_length"],
        manifest.get("training"),
    )
