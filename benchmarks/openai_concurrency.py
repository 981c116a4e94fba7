"""The OpenAI-compatible backend against a llama.cpp server on this machine: requests/s at 1, 8
and 32 requests in flight, for label scoring and for generation, beside the in-process
llama.cpp backend on the same GGUF, prompts and rows.

    .venv/bin/python benchmarks/openai_concurrency.py --rows 64

The server is llama-cpp-python's (`python -m llama_cpp.server`, 127.0.0.1, a free port,
`--n_threads` as given), started and stopped here; bakeoff's `openai:` backend sends the
requests with its thread pool (`concurrency`) and its response cache off. Scoring: zero-shot
SST-2, one completions request per row (top-20 next-token log-probabilities). Generation: the
same prompts, up to 8 new tokens. The JSON holds requests/s per side and level, and whether
the predictions equal the in-process backend's.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.models.base import LanguageModel
from bakeoff.models.llamacpp import gguf_path
from bakeoff.precision import machine_summary
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.strategy import RunContext
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task

REPO = Path(__file__).resolve().parents[1]
LEVELS = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(threads: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model"]
    command += [str(gguf_path("smollm2-135m-instruct")), "--model_alias", "smollm2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    command += ["--n_threads", str(threads), "--logits_all", "true"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(model: LanguageModel, task: Any, rows: list[Any]) -> dict[str, Any]:
    """Label scoring, then generation, on the same rows: requests/s and outputs."""
    strategy = PromptStrategy("zero-shot", PromptSettings(format="plain"))
    candidate = strategy.adapt(task, model, [], [], RunContext())
    start = time.perf_counter()
    labels = [p.output for p in candidate.predict(rows)]
    scoring = len(rows) / (time.perf_counter() - start)
    prompts = candidate.prompts([ex.text for ex in rows])
    start = time.perf_counter()
    texts = [g.text for g in model.generate(prompts, max_new_tokens=8, stop=["\n"])]
    generation = len(rows) / (time.perf_counter() - start)
    return {
        "scoring_requests_per_second": scoring,
        "generation_requests_per_second": generation,
        "labels": labels,
        "texts": texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/openai_concurrency.json"
    )
    args = parser.parse_args()
    task = load_task(REPO / "examples/sst2/task.yaml")
    rows = load_splits(task, limit_test=args.rows).test
    local = load_model(
        "llama.cpp:smollm2-135m-instruct", BackendOptions(threads=args.threads, context=2048)
    )
    reference = measure(local, task, rows)
    sides: dict[str, Any] = {"llama.cpp in process": reference}
    with llama_server(args.threads) as url:
        for level in LEVELS:
            options = BackendOptions(concurrency=level, cache=False)
            sides[f"openai → llama.cpp server, {level} in flight"] = measure(
                load_model(f"openai:smollm2@{url}", options), task, rows
            )
    summary = {}
    for name, side in sides.items():
        summary[name] = {
            "scoring_requests_per_second": round(side["scoring_requests_per_second"], 2),
            "generation_requests_per_second": round(side["generation_requests_per_second"], 2),
            "same_labels_as_in_process": sum(
                a == b for a, b in zip(side["labels"], reference["labels"], strict=True)
            )
            / len(rows),
            "same_texts_as_in_process": sum(
                a == b for a, b in zip(side["texts"], reference["texts"], strict=True)
            )
            / len(rows),
        }
    results = {
        "benchmark": "openai backend vs a llama.cpp server: requests/s at 1, 8, 32 in flight",
        "model": "smollm2-135m-instruct (Q4_1 GGUF)",
        "rows": len(rows),
        "machine": {**machine_summary(), "llama_cpp_threads": args.threads},
        "sides": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
