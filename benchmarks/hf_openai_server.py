"""A minimal OpenAI-compatible server over bakeoff's transformers backend, for benchmarks only.

    .venv/bin/python benchmarks/hf_openai_server.py --port 8090 [--model smollm2-135m-instruct]

Why: on a 2-core CPU, llama-cpp-python's server evaluates SmolLM2-135M prompts at about 300
tokens/s (measured), so a DSPy optimiser run plus a full test split takes hours; the
transformers backend is several times faster on the same weights. It serves, on 127.0.0.1 only:
- GET  /v1/models
- POST /v1/chat/completions  messages rendered with the model's chat template, greedy (or
  sampled when temperature > 0) generation up to `max_tokens`, `stop` honoured;
- POST /v1/completions       with `logprobs: k` and `max_tokens: 1`: the top-k next-token
  log-probabilities (what bakeoff's `openai:` backend reads); otherwise generation.
One request at a time (a lock around the model), like llama-cpp-python's server.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from bakeoff.models.hf import HFCausalLM

DEFAULT_MAX_TOKENS = 256


class ModelServer(ThreadingHTTPServer):
    def __init__(self, port: int, lm: HFCausalLM, alias: str):
        super().__init__(("127.0.0.1", port), _Handler)
        self.lm, self.alias = lm, alias
        self.lock = threading.Lock()

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = self.lm.render_chat(body["messages"])
        text, usage, finish = self._generate(prompt, body)
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return self._envelope("chat.completion", choice, usage)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        top = body.get("logprobs")
        if top:  # next-token distribution (bakeoff's label scoring reads one token at a time)
            ids = self.lm.encode_prompt(prompt)
            with torch.inference_mode():
                logits = self.lm.runner(torch.tensor([ids])).logits[0, -1].float()
            values, tokens = torch.log_softmax(logits, -1).topk(int(top))
            texts = [self.lm.tokenizer.decode([t]) for t in tokens.tolist()]
            top_logprobs = dict(zip(texts, values.tolist(), strict=True))
            choice = {
                "index": 0,
                "text": texts[0],
                "logprobs": {"tokens": [texts[0]], "top_logprobs": [top_logprobs]},
                "finish_reason": "length",
            }
            usage = {"prompt_tokens": len(ids), "completion_tokens": 1}
            return self._envelope("text_completion", choice, usage)
        text, usage, finish = self._generate(prompt, body)
        return self._envelope(
            "text_completion", {"index": 0, "text": text, "finish_reason": finish}, usage
        )

    def _generate(self, prompt: str, body: dict[str, Any]) -> tuple[str, dict[str, int], str]:
        limit = int(body.get("max_tokens") or DEFAULT_MAX_TOKENS)
        stop = body.get("stop") or []
        [gen] = self.lm.generate(
            [prompt],
            max_new_tokens=limit,
            stop=[stop] if isinstance(stop, str) else stop,
            temperature=float(body.get("temperature") or 0.0),
            seed=int(body.get("seed") or 0),
        )
        usage = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.output_tokens}
        return gen.text, usage, "length" if gen.output_tokens >= limit else "stop"

    def _envelope(self, kind: str, choice: dict[str, Any], usage: dict[str, int]) -> dict[str, Any]:
        total = usage["prompt_tokens"] + usage["completion_tokens"]
        return {
            "id": f"bench-{time.monotonic_ns()}",
            "object": kind,
            "created": int(time.time()),
            "model": self.alias,
            "choices": [choice],
            "usage": {**usage, "total_tokens": total},
        }


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.alias}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        routes = {
            "/v1/chat/completions": self.server.chat,
            "/v1/completions": self.server.completion,
        }
        route = routes.get(self.path.rstrip("/"))
        if route is None:
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            with self.server.lock:
                self._send(200, route(body))
        except (KeyError, TypeError, ValueError) as exc:
            self._send(400, {"error": {"message": f"bad request: {exc}"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--alias", default="smollm2")
    args = parser.parse_args()
    server = ModelServer(
        args.port, HFCausalLM.load(args.model, inference_precision="auto"), args.alias
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
