"""The OpenAI-compatible HTTP backend (the official `openai` client): vLLM, llama.cpp server,
Ollama, hosted APIs.

    bakeoff run --task examples/sst2/task.yaml --model openai:smollm2@http://127.0.0.1:8080/v1

- Label scoring reads the server's next-token log-probabilities (completions, `logprobs`,
  one token at a time along the option's text; single-token labels cost one request per row).
  Echoed prompt log-probabilities are not used: llama-cpp-python's server shifts them by one
  token. Where no log-probabilities are offered, the backend generates the answer and parses it
  (the matched option gets all the probability) and says so once.
- Requests run `concurrency` at a time; 429 and 5xx are retried with exponential backoff by the
  client (`max_retries`), each request has a timeout.
- Every response is cached in SQLite (BAKEOFF_CACHE/openai-responses.sqlite), keyed by base URL,
  model and the request, so a rerun costs nothing.
- The API key comes from the environment variable `api_key_env` and is never logged or stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bakeoff.cache import cache_root
from bakeoff.errors import BakeoffError
from bakeoff.models.backends import BackendOptions
from bakeoff.models.base import Generation, OptionScores, Progress, ScoreRequest, cut_at_stop
from bakeoff.task.output import OutputSpec

T = TypeVar("T")
UNSCORED = -1e9  # log-probability of options the parsed answer did not name


class ResponseCache:
    """request JSON -> response JSON, in one SQLite file shared by every run."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT)")
        self.lock = threading.Lock()
        self.hits = 0

    def get(self, key: str) -> Any:
        with self.lock:
            row = self.conn.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, body: Any) -> None:
        with self.lock, self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(body))
            )


def parse_name(name: str) -> tuple[str, str]:
    """`MODEL@BASE_URL` -> (model, base URL); the base URL may also come from OPENAI_BASE_URL."""
    model, _, base = name.partition("@")
    base = base or os.environ.get("OPENAI_BASE_URL", "")
    if not model or not base:
        raise BakeoffError(
            f"model 'openai:{name}': write it as openai:MODEL@BASE_URL, e.g. "
            "openai:smollm2@http://127.0.0.1:8080/v1 (or set OPENAI_BASE_URL)."
        )
    return model, base.rstrip("/")


class OpenAILM:
    # the server's grammar is not ours: the budget is doubled as for llama.cpp's converter
    # (one optional space after each token), so a server of that family never cuts an output
    # before its shape is complete; a stricter grammar ends the output sooner by itself
    shape_spaced = True

    def __init__(self, client: Any, model: str, base_url: str, options: BackendOptions):
        self.client = client
        self.model = model
        self.base_url = base_url
        self.options = options
        self.name = f"openai:{model}@{base_url}"
        self.n_parameters = 0  # unknown behind an API: FLOPs are not estimated
        self.cache = (
            ResponseCache(str(cache_root() / "openai-responses.sqlite")) if options.cache else None
        )
        self.logprobs_offered: bool | None = None  # learnt on first use
        self.outside_top_k = 0  # options scored by the top-k floor (an upper bound)
        self.notes: list[str] = []

    @classmethod
    def load(cls, name: str, options: BackendOptions) -> OpenAILM:
        import openai

        model, base_url = parse_name(name)
        cache_root().mkdir(parents=True, exist_ok=True)
        client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get(options.api_key_env) or "not-needed",
            timeout=options.timeout_s,
            max_retries=options.max_retries,
        )
        return cls(client, model, base_url, options)

    # --- plumbing --------------------------------------------------------------------
    def _call(self, endpoint: str, request: dict[str, Any]) -> dict[str, Any]:
        """One request through the cache; errors become a BakeoffError naming the server."""
        import openai

        body = {"model": self.model, **request}
        key = hashlib.sha256(
            json.dumps([self.base_url, endpoint, body], sort_keys=True).encode()
        ).hexdigest()
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        api = self.client.completions if endpoint == "completions" else self.client.chat.completions
        try:
            response = api.create(**body).model_dump()
        except openai.APIStatusError as exc:
            message = f"{self.base_url}: {exc.status_code} {exc.message}"
            raise ServerError(exc.status_code, message) from None
        except openai.APIConnectionError as exc:
            raise BakeoffError(
                f"{self.base_url}: cannot connect ({exc.__class__.__name__}) — is the server "
                "running, and is the base URL right?"
            ) from None
        if self.cache is not None:
            self.cache.put(key, response)
        return response

    def _map(
        self, fn: Callable[[Any], T], items: Sequence[Any], progress: Progress | None
    ) -> list[T]:
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            out = []
            for result in pool.map(fn, items):
                out.append(result)
                if progress:
                    progress(1)
            return out

    # --- text ------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return False  # the server applies its own template in chat mode; prompts stay text

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        raise BakeoffError(
            f"model '{self.name}': the server owns its chat template; use --format plain."
        )

    def count_tokens(self, text: str) -> int:
        return max(1, round(len(text) / 4))  # no tokenizer here; usage figures come from the server

    # --- generation ------------------------------------------------------------------
    def _generate_one(
        self,
        prompt: str,
        max_new_tokens: int,
        stop: Sequence[str],
        temperature: float,
        seed: int,
        shaped: dict[str, Any] | None = None,
    ) -> Generation:
        request: dict[str, Any] = {"max_tokens": max_new_tokens, "temperature": temperature}
        if temperature > 0:
            request["seed"] = seed
        if shaped:  # the server enforces the shape, which ends the output
            request.update(shaped)
            stop = ()
        if stop:
            request["stop"] = [s for s in stop if s.strip()] or None
        if self.options.api == "chat":
            response = self._call(
                "chat", {"messages": [{"role": "user", "content": prompt}], **request}
            )
            text = response["choices"][0]["message"]["content"] or ""
        else:
            response = self._call("completions", {"prompt": prompt, **request})
            text = response["choices"][0]["text"] or ""
        text, _ = cut_at_stop(text, stop)
        usage = response.get("usage") or {}
        return Generation(
            text,
            int(usage.get("prompt_tokens") or self.count_tokens(prompt)),
            int(usage.get("completion_tokens") or self.count_tokens(text)),
        )

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
        constraint: OutputSpec | None = None,
    ) -> list[Generation]:
        shaped: dict[str, Any] = {}
        first: list[Generation] = []
        if constraint is not None and prompts:  # the first prompt finds the form it takes
            shaped, answer = self._shape_form(constraint, prompts[0], max_new_tokens, seed)
            first, prompts = [answer], prompts[1:]
            if progress:
                progress(1)
        return first + self._map(
            lambda p: self._generate_one(p, max_new_tokens, stop, temperature, seed, shaped),
            list(prompts),
            progress,
        )

    def _shape_form(
        self, shape: OutputSpec, prompt: str, max_new_tokens: int, seed: int
    ) -> tuple[dict[str, Any], Generation]:
        """The `response_format` this server takes for a JSON Schema — OpenAI's form, else
        llama-cpp-python's — and the answer to `prompt` under it; an error when neither."""
        forms = (response_format(shape, self.options.api), json_object_format(shape))
        for form in forms:
            try:
                return form, self._generate_one(prompt, max_new_tokens, (), 0.0, seed, form)
            except ServerError as exc:
                if "response_format" in str(exc) and form is not forms[-1]:
                    continue
                raise BakeoffError(
                    f"{self.base_url}: the server refused a JSON Schema in `response_format` "
                    f"({exc}) — it cannot enforce the task's `output:`; use the transformers "
                    "or llama.cpp backend"
                ) from None
        raise AssertionError("unreachable")

    # --- scoring ---------------------------------------------------------------------
    def _next_tokens(self, context: str) -> tuple[dict[str, float], int]:
        """The server's top next-token log-probabilities after `context` (may be empty), and
        the context's length in the server's tokens."""
        response = self._call(
            "completions",
            {
                "prompt": context,
                "max_tokens": 1,
                "logprobs": self.options.top_logprobs,
                "temperature": 0,
            },
        )
        logprobs = response["choices"][0].get("logprobs") or {}
        top = (logprobs.get("top_logprobs") or [None])[0]
        used = int((response.get("usage") or {}).get("prompt_tokens") or self.count_tokens(context))
        return {str(k): float(v) for k, v in (top or {}).items()}, used

    def next_tokens(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        """The server's top next tokens (at most the `top_logprobs` option's number)."""

        def top(prompt: str) -> dict[str, float]:
            found = self._next_tokens(prompt)[0]
            return dict(sorted(found.items(), key=lambda kv: -kv[1])[:top_k])

        return self._map(top, list(prompts), None)

    def _option_logprob(self, prompt: str, option: str) -> tuple[float, int, int] | None:
        """Summed log-probability of `option` after `prompt`, token by token from the server's
        next-token distribution (longest matching token first); None when the server gives no
        log-probabilities. An option outside the top-k gets the k-th value (an upper bound).
        Returns (log-probability, tokens, prompt tokens)."""
        context, remaining, total, steps, prompt_tokens = prompt, option, 0.0, 0, 0
        while remaining and steps < 16:
            try:
                top, used = self._next_tokens(context)
            except ServerError as exc:
                if self.logprobs_offered or exc.status not in (400, 422, 501):
                    raise
                return None  # the server refuses `logprobs`

            if not top:
                return None
            prompt_tokens = prompt_tokens or used
            matches = [t for t in top if t and remaining.startswith(t)]
            if not matches:
                self.outside_top_k += 1
                return total + min(top.values()), steps + 1, prompt_tokens
            token = max(matches, key=len)
            total += top[token]
            context, remaining, steps = context + token, remaining[len(token) :], steps + 1
        return total, steps, prompt_tokens

    def _score_one(self, request: ScoreRequest) -> OptionScores:
        if self.logprobs_offered is not False:
            scored = [self._option_logprob(request.prompt, o) for o in request.options]
            if all(s is not None for s in scored):
                self.logprobs_offered = True
                found = [s for s in scored if s is not None]
                return OptionScores(
                    tuple(s[0] for s in found), tuple(s[1] for s in found), found[0][2]
                )
            self.logprobs_offered = False
            self.notes.append(
                f"{self.base_url} gives no log-probabilities; labels are generated and parsed."
            )
        longest = max(self.count_tokens(o) for o in request.options) + 4
        gen = self._generate_one(request.prompt, longest, ("\n",), 0.0, 0)
        answer = gen.text.strip().lower()
        match = next(
            (i for i, o in enumerate(request.options) if answer.startswith(o.strip().lower())),
            None,
        )
        logprobs = tuple(0.0 if i == match else UNSCORED for i in range(len(request.options)))
        return OptionScores(logprobs, tuple(1 for _ in request.options), gen.prompt_tokens)

    def score(
        self, requests: Sequence[ScoreRequest], progress: Progress | None = None
    ) -> list[OptionScores]:
        if requests and self.logprobs_offered is None:  # learn the server's abilities once
            first = [self._score_one(requests[0])]
            if progress:
                progress(1)
            return first + self._map(self._score_one, list(requests[1:]), progress)
        return self._map(self._score_one, list(requests), progress)


class ServerError(BakeoffError):
    """The server answered with an error status (after the client's retries)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def response_format(shape: OutputSpec, api: str) -> dict[str, Any]:
    """The request fields that make an OpenAI-compatible server enforce `shape`: a JSON Schema
    through chat's `response_format`; other shapes, or the completions API, are refused."""
    if shape.json_schema is None or api != "chat":
        raise BakeoffError(
            f"an OpenAI-compatible server enforces only a JSON Schema, through the chat API's "
            f"`response_format` — this task declares `output.{shape.kind}` and the backend uses "
            f"the {api} API: use the transformers backend, or a json_schema with api: chat"
        )
    schema = {"name": "output", "schema": shape.json_schema, "strict": True}
    return {"response_format": {"type": "json_schema", "json_schema": schema}}


def json_object_format(shape: OutputSpec) -> dict[str, Any]:
    """The form llama-cpp-python's server (and other older ones) take for a JSON Schema."""
    return {"response_format": {"type": "json_object", "schema": shape.json_schema}}
