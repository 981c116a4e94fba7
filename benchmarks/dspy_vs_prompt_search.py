"""Prompt optimisation side by side: bakeoff's prompt-search vs DSPy (MIPROv2 light and
BootstrapFewShotWithRandomSearch), the same model behind the same server, every call counted
at one place.

    .venv/bin/python benchmarks/dspy_vs_prompt_search.py --task sst2 --sides dspy-mipro dspy-rs
    .venv/bin/python benchmarks/dspy_vs_prompt_search.py --task sst2 --sides bakeoff

Setup (one process starts everything on 127.0.0.1 and stops it after):
- `llama_cpp.server` serves the bundled SmolLM2-135M-Instruct GGUF (chatml);
- a counting proxy sits in front of it: every request of either side passes through it and is
  counted there (DSPy's cache is off; bakeoff's response cache starts empty). It also renames
  LiteLLM's `max_completion_tokens` to `max_tokens`, which llama-cpp-python's server reads;
- DSPy talks to the proxy through LiteLLM (`openai/` model name, chat endpoint), bakeoff through
  its own `openai:` backend (completions with next-token log-probabilities).
Identical train (200 rows) and validation (100 rows) for both sides, drawn with a fixed seed
from the task's train file; test = the task's whole test file, scored the same way for both:
the predicted label must equal the gold label; a DSPy answer that does not parse is wrong.
Each side's result is merged into benchmarks/results/dspy_<task>.json as soon as it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bakeoff.evaluation.stats import bootstrap
from bakeoff.models.llamacpp import gguf_path
from bakeoff.precision import machine_summary
from bakeoff.task.data import load_splits
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec, load_task

REPO = Path(__file__).resolve().parents[1]
ALIAS = "smollm2"


class CountingProxy(ThreadingHTTPServer):
    """Forwards POSTs to the model server and counts them by path; the one place calls are
    counted for both sides."""

    def __init__(self, upstream: str):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


class _ProxyHandler(BaseHTTPRequestHandler):
    server: CountingProxy

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if "max_completion_tokens" in body:  # LiteLLM's name; llama-cpp-python reads max_tokens
            body["max_tokens"] = body.pop("max_completion_tokens")
        with self.server.lock:
            self.server.counts[self.path] = self.server.counts.get(self.path, 0) + 1
        self._forward(body)

    def _forward(self, body: dict[str, Any] | None) -> None:
        url = self.server.upstream + self.path.removeprefix("/v1")
        if body is None:
            response = httpx.get(url, timeout=600)
        else:
            response = httpx.post(url, json=body, timeout=600)
        self.send_response(response.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)


def free_port() -> int:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(probe.server_address[1])
    probe.server_close()
    return port


def server_command(kind: str, port: int, threads: int) -> list[str]:
    if kind == "transformers":  # bakeoff's HF backend behind a minimal OpenAI-style API
        script = str(Path(__file__).with_name("hf_openai_server.py"))
        return [sys.executable, script, "--port", str(port), "--alias", ALIAS]
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path("smollm2-135m-instruct")),
        "--model_alias",
        ALIAS,
        "--chat_format",
        "chatml",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        str(threads),
        "--logits_all",
        "true",  # bakeoff's backend reads next-token log-probabilities
    ]


@contextmanager
def model_server(kind: str, threads: int, log: Path) -> Iterator[CountingProxy]:
    """The model server on a free loopback port, and the counting proxy in front of it."""
    port = free_port()
    command = server_command(kind, port, threads)
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    upstream = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{upstream}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        proxy = CountingProxy(upstream)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            yield proxy
        finally:
            proxy.shutdown()
    finally:
        server.terminate()
        server.wait(timeout=30)


def rows(
    task: TaskSpec, n_train: int, n_val: int
) -> tuple[list[Example], list[Example], list[Example]]:
    splits = load_splits(task, seed=0, train_size=n_train)
    return splits.train, splits.validation[:n_val], splits.test


def accuracy(correct: list[bool]) -> dict[str, Any]:
    hits = np.array(correct, dtype=float)
    estimate = bootstrap(lambda idx: float(hits[idx].mean()), len(hits))
    return {"accuracy": estimate.value, "ci95": [estimate.low, estimate.high], "n": len(hits)}


# --- DSPy --------------------------------------------------------------------------------------
def dspy_side(
    optimizer: str,
    task: TaskSpec,
    data: tuple[list[Example], ...],
    proxy: CountingProxy,
    max_tokens: int,
) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network for the cost map
    from typing import Literal

    import dspy

    names = tuple(task.label_names)
    described = "; ".join(
        f"{lab.name}: {lab.description}" for lab in task.labels or [] if lab.description
    )

    label_type = Literal[names]  # type: ignore[valid-type]
    classify = dspy.Signature(
        {
            "text": (str, dspy.InputField()),
            "label": (label_type, dspy.OutputField(**({"desc": described} if described else {}))),
        },
        task.description,
    )
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    lm = dspy.LM(
        f"openai/{ALIAS}", api_base=proxy.url, api_key="local", cache=False, max_tokens=max_tokens
    )
    # a 135M model breaks DSPy's output format often: without a high error limit the
    # optimizers stop at the 10th unparsed answer (dspy.settings.max_errors)
    dspy.configure(lm=lm, max_errors=1_000_000)
    train, validation, test = data

    def examples(part: list[Example]) -> list[Any]:
        return [dspy.Example(text=ex.text, label=ex.label).with_inputs("text") for ex in part]

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return bool(getattr(prediction, "label", None) == example.label)

    program = dspy.Predict(classify)
    before = proxy.total()
    start = time.perf_counter()
    try:
        compiled = compile_program(
            dspy, optimizer, program, proxy, metric, examples(train), examples(validation)
        )
    except Exception as exc:  # the optimiser itself gave up: record how far it got
        return {
            "side": f"dspy {optimizer}",
            "dspy_version": dspy.__version__,
            "failed": f"{type(exc).__name__}: {str(exc)[:600]}",
            "optimise_calls": proxy.total() - before,
            "optimise_seconds": time.perf_counter() - start,
        }
    optimise_seconds = time.perf_counter() - start
    optimise_calls = proxy.total() - before

    before = proxy.total()
    start = time.perf_counter()
    correct, unparsed = [], 0
    for ex in test:
        try:
            label = compiled(text=ex.text).label
        except Exception:  # an answer DSPy could not parse, even after its JSON retry
            label, unparsed = None, unparsed + 1
        correct.append(label == ex.label)
    return {
        "side": f"dspy {optimizer}",
        "dspy_version": dspy.__version__,
        "optimise_calls": optimise_calls,
        "optimise_seconds": optimise_seconds,
        "test_calls": proxy.total() - before,
        "test_seconds": time.perf_counter() - start,
        "test_unparsed": unparsed,
        "test": accuracy(correct),
        "max_tokens": max_tokens,
        "program": {
            "instruction": compiled.signature.instructions,
            "demos": len(getattr(compiled, "demos", []) or []),
        },
    }


def compile_program(
    dspy: Any,
    optimizer: str,
    program: Any,
    proxy: CountingProxy,
    metric: Any,
    train: list[Any],
    validation: list[Any],
) -> Any:
    """The optimiser with its defaults (one thread: the server answers one call at a time)."""
    if optimizer == "mipro":
        # the proposer is the same model (MIPROv2's default); it gets room to write
        proposer = dspy.LM(
            f"openai/{ALIAS}", api_base=proxy.url, api_key="local", cache=False, max_tokens=256
        )
        tuner = dspy.MIPROv2(metric=metric, prompt_model=proposer, auto="light", num_threads=1)
    else:
        tuner = dspy.BootstrapFewShotWithRandomSearch(metric=metric, num_threads=1)
    return tuner.compile(program, trainset=train, valset=validation)


# --- bakeoff -----------------------------------------------------------------------------------
def bakeoff_side(
    task: TaskSpec, data: tuple[list[Example], ...], proxy: CountingProxy, max_calls: int
) -> dict[str, Any]:
    from bakeoff.models.backends import BackendOptions, load_model
    from bakeoff.prompting.prompt_search import PromptSearch
    from bakeoff.strategy import RunContext

    os.environ["BAKEOFF_CACHE"] = tempfile.mkdtemp(prefix="bakeoff-bench-cache-")  # starts empty
    os.environ.setdefault("OPENAI_API_KEY", "local")
    model = load_model(f"openai:{ALIAS}@{proxy.url}", BackendOptions(concurrency=1))
    train, validation, test = data
    before = proxy.total()
    start = time.perf_counter()
    strategy = PromptSearch({"search": {"max_calls": max_calls}})
    candidate = strategy.adapt(task, model, train, validation, RunContext(seed=0))
    optimise_seconds = time.perf_counter() - start
    optimise_calls = proxy.total() - before
    before = proxy.total()
    start = time.perf_counter()
    predictions = candidate.predict(test)
    search = candidate.notes["search"]
    return {
        "side": "bakeoff prompt-search",
        "max_calls": max_calls,
        "optimise_calls": optimise_calls,
        "search_counted_calls": search["calls"],
        "optimise_seconds": optimise_seconds,
        "test_calls": proxy.total() - before,
        "test_seconds": time.perf_counter() - start,
        "test": accuracy([p.output == ex.label for p, ex in zip(predictions, test, strict=True)]),
        "program": {"chosen": search["chosen"], "instruction": candidate.layout.instruction},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["sst2", "trec"], default="sst2")
    parser.add_argument("--sides", nargs="+", default=["dspy-mipro", "dspy-rs", "bakeoff"])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--validation", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--server",
        choices=["transformers", "llama-cpp"],
        default="transformers",
        help="what serves the model: bakeoff's transformers backend (benchmarks/"
        "hf_openai_server.py) or llama_cpp.server on the GGUF (several times slower here)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=32,
        help="DSPy's task LM answer limit: its answer format needs ~20 tokens; a 135M model "
        "that misses the format otherwise rambles to the limit, and every such answer is "
        "retried (MIPROv2's proposer gets 256)",
    )
    parser.add_argument(
        "--search-calls",
        type=int,
        default=0,
        help="bakeoff's budget; 0: half the calls of the cheaper DSPy optimiser on record",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or REPO / f"benchmarks/results/dspy_{args.task}.json"
    task = load_task(REPO / f"examples/{args.task}/task.yaml")
    data = rows(task, args.train, args.validation)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.update(
        {
            "benchmark": f"prompt optimisation, {args.task}: bakeoff prompt-search vs DSPy",
            "model": "SmolLM2-135M-Instruct",
            "server": args.server,
            "rows": {"train": len(data[0]), "validation": len(data[1]), "test": len(data[2])},
            "machine": machine_summary(),
        }
    )
    results.setdefault("sides", {})
    with (
        tempfile.TemporaryDirectory() as tmp,
        model_server(args.server, args.threads, Path(tmp) / "server.log") as proxy,
    ):
        for side in args.sides:
            if side == "bakeoff":
                dspy_calls = [
                    v["optimise_calls"]
                    for k, v in results["sides"].items()
                    if k.startswith("dspy") and "failed" not in v
                ]
                budget = args.search_calls or (min(dspy_calls) // 2 if dspy_calls else 350)
                result = bakeoff_side(task, data, proxy, budget)
            else:
                result = dspy_side(side.removeprefix("dspy-"), task, data, proxy, args.max_tokens)
            results["sides"][side] = result
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))
            print(json.dumps({side: result}, indent=1), flush=True)


if __name__ == "__main__":
    main()
