"""The OpenAI-compatible backend against a small fake server on 127.0.0.1 (fast unit tests;
tests/integration/test_openai_server.py runs it against a real llama.cpp server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.models.backends import BackendOptions, load_model, split_name
from bakeoff.models.base import ScoreRequest

KEY = "sk-test-never-print-me"


class Fake:
    def __init__(self) -> None:
        self.logprobs = True
        self.fail_first_with: int | None = None
        self.calls: list[dict[str, Any]] = []
        self.auth: list[str] = []


def handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.calls.append(body)
            fake.auth.append(self.headers.get("Authorization", ""))
            if fake.fail_first_with and len(fake.calls) == 1:
                return self.reply(fake.fail_first_with, {"error": {"message": "slow down"}})
            prompt = body.get("prompt", "")
            usage = {"prompt_tokens": len(prompt), "completion_tokens": 1}
            logprobs = None
            if body.get("logprobs"):
                if not fake.logprobs:
                    return self.reply(400, {"error": {"message": "logprobs not supported"}})
                # next-token alternatives: the review's word decides which label is likelier
                good = "fun" in prompt
                top = {
                    " positive": -0.2 if good else -2.5,
                    " negative": -2.5 if good else -0.2,
                    " very": -1.0,
                }
                if prompt.endswith(" very"):
                    top = {" good": -0.5, " bad": -1.5}
                logprobs = {
                    "tokens": [" positive"],
                    "token_logprobs": [-0.2],
                    "top_logprobs": [top],
                }
            choice = {
                "text": " positive\n",
                "index": 0,
                "logprobs": logprobs,
                "finish_reason": "stop",
            }
            total = usage["prompt_tokens"] + 1
            return self.reply(
                200,
                {
                    "id": "x",
                    "object": "text_completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [choice],
                    "usage": {**usage, "total_tokens": total},
                },
            )

    return Handler


@pytest.fixture
def fake_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Fake, str]]:
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake = Fake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


REQUESTS = [
    ScoreRequest("Review: fun\nSentiment:", (" positive", " negative")),
    ScoreRequest("Review: dull\nSentiment:", (" positive", " negative")),
]
MULTI = ScoreRequest("Review: fun\nSentiment:", (" very good", " very bad", " mixed"))


def test_scores_from_next_token_logprobs_and_caches_responses(
    fake_server: tuple[Fake, str],
) -> None:
    fake, url = fake_server
    assert split_name(f"openai:m@{url}") == ("openai", f"m@{url}")
    lm: Any = load_model(f"openai:m@{url}", BackendOptions(concurrency=2))
    scores = lm.score(REQUESTS)
    assert scores[0].logprobs == pytest.approx((-0.2, -2.5))
    assert scores[1].logprobs == pytest.approx((-2.5, -0.2))
    assert scores[0].n_tokens == (1, 1)
    assert all(a == f"Bearer {KEY}" for a in fake.auth)
    assert len(fake.calls) == 2  # one request per row: both labels are single tokens
    # multi-token options go token by token; an option outside the top-k gets its floor
    multi = lm.score([MULTI])[0]
    assert multi.logprobs == pytest.approx((-1.0 - 0.5, -1.0 - 1.5, -2.5))
    assert multi.n_tokens == (2, 2, 1) and lm.outside_top_k == 1  # " mixed" is not offered
    calls = len(fake.calls)
    again = load_model(f"openai:m@{url}", BackendOptions()).score(REQUESTS)
    assert again == scores and len(fake.calls) == calls  # the rerun cost nothing


def test_falls_back_to_generation_when_the_server_has_no_prompt_logprobs(
    fake_server: tuple[Fake, str],
) -> None:
    fake, url = fake_server
    fake.logprobs = False
    lm: Any = load_model(f"openai:m@{url}", BackendOptions(cache=False))
    scores = lm.score(REQUESTS)
    assert [s.logprobs[0] for s in scores] == [0.0, 0.0]  # parsed " positive" both times
    assert scores[0].logprobs[1] < -1e8
    assert lm.notes and "generated and parsed" in lm.notes[0]
    gens = lm.generate(["Say:"], max_new_tokens=5, stop=["\n"])
    assert gens[0].text == " positive" and gens[0].output_tokens == 1


def test_retries_a_429_and_never_shows_the_key(fake_server: tuple[Fake, str]) -> None:
    fake, url = fake_server
    fake.fail_first_with = 429
    lm = load_model(f"openai:m@{url}", BackendOptions(cache=False, max_retries=2))
    assert lm.score(REQUESTS[:1])[0].logprobs[0] == pytest.approx(-0.2)
    assert len(fake.calls) >= 2  # the 429, then the retried request
    fake.calls.clear()
    fake.fail_first_with = 503
    lm = load_model(f"openai:m@{url}", BackendOptions(cache=False, max_retries=0))
    with pytest.raises(BakeoffError) as err:
        lm.score(REQUESTS[:1])
    assert "503" in str(err.value) and KEY not in str(err.value)


def test_unreachable_server_and_bad_names_are_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BakeoffError, match="openai:MODEL@BASE_URL"):
        load_model("openai:m")
    lm = load_model("openai:m@http://127.0.0.1:9/v1", BackendOptions(max_retries=0, timeout_s=2))
    with pytest.raises(BakeoffError, match="cannot connect"):
        lm.generate(["x"], max_new_tokens=2)
