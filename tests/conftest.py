"""Shared fixtures: a tiny random Llama with a word-level tokenizer, built in seconds."""

from __future__ import annotations

import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"

WORDS = [
    "positive",
    "negative",
    "neutral",
    "great",
    "film",
    "dull",
    "boring",
    "loved",
    "it",
    "a",
    "the",
    "was",
    "movie",
    "and",
    "very",
    "good",
    "bad",
    "plot",
    "acting",
    "story",
    "fun",
    "awful",
    "review",
    "sentiment",
    "text",
    "answer",
    "classify",
    "what",
    "is",
    "of",
    "this",
    ":",
    ".",
    ",",
    "?",
    "!",
    "yes",
    "no",
    "question",
    "context",
    "world",
    "sports",
    "business",
    "technology",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer random Llama + tokenizer (safetensors) into `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = [
        "<pad>",
        "<unk>",
        "<s>",
        "</s>",
        "<|system|>",
        "<|user|>",
        "<|assistant|>",
        "<|end|>",
    ]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(WORDS)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=specials[4:],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def other_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model (other random weights): for experiments over several models."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-b"), seed=1)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from bakeoff.models.hf import HFCausalLM

    return HFCausalLM.load(str(tiny_model_dir))


def write_task(folder: Path, body: str, name: str = "task.yaml") -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:  # type: ignore[type-arg]
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# `bakeoff run` arguments both remote-backend tests use: zero-shot + 4-shot on 40 SST-2 rows
SST2_PROMPT_RUN = [
    "run",
    "--task",
    str(REPO / "examples/sst2/task.yaml"),
    "--strategy",
    "zero-shot",
    "--strategy",
    "few-shot",
    "--shots",
    "4",
    "--wordings",
    "0",
    "--format",
    "plain",
    "--limit-test",
    "40",
]


def prediction_agreement(runs: list[dict], others: list[dict]) -> list[float]:  # type: ignore[type-arg]
    """Per run pair (results.json "runs"), the share of rows with the same output."""
    shares = []
    for a, b in zip(runs, others, strict=True):
        pairs = list(zip(a["predictions"], b["predictions"], strict=True))
        shares.append(sum(x["output"] == y["output"] for x, y in pairs) / len(pairs))
    return shares


def confident_disagreements(runs: list[dict], others: list[dict], margin: float) -> list[int]:  # type: ignore[type-arg]
    """Per run pair, rows with different outputs although both sides gave their own answer a
    probability above 1/2 + `margin`: a backend difference, not a near tie tipped over."""
    counts = []
    for a, b in zip(runs, others, strict=True):
        pairs = zip(a["predictions"], b["predictions"], strict=True)
        counts.append(
            sum(
                x["output"] != y["output"]
                and min(x["probabilities"][x["output"]], y["probabilities"][y["output"]])
                > 0.5 + margin
                for x, y in pairs
            )
        )
    return counts


def majority_rate(run: dict) -> float:  # type: ignore[type-arg]
    """Accuracy of always answering the most common gold label of a run's own test rows."""
    gold = Counter(p["gold"] for p in run["predictions"])
    return max(gold.values()) / sum(gold.values())


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`bakeoff serve FOLDER ARGS` on a free loopback port, once /health answers."""
    import os
    import sys
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bakeoff.cli", "serve", str(folder), "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode() if proc.stdout else "server died")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not come up")
