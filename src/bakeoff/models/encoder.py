"""Sentence embeddings from an encoder (MiniLM by default) for nearest-neighbour demos."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bakeoff.device import module_device, to_device
from bakeoff.models.loading import load_pretrained, load_tokenizer
from bakeoff.models.registry import DEFAULT_ENCODER, resolve


class Embedder:
    def __init__(self, model: Any, tokenizer: Any, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name

    @classmethod
    def load(cls, name: str = DEFAULT_ENCODER, device: str = "cpu") -> Embedder:
        from transformers import AutoModel

        source = resolve(name, kind="encoder")
        model = load_pretrained(AutoModel, source).to(device)
        return cls(model, load_tokenizer(source), name)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, shape (N, D)."""
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            batch = to_device(dict(batch), module_device(self.model))
            hidden = self.model(**batch).last_hidden_state  # (B, T, D)
            mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)
