"""One contract for every backend: scoring and generation behave alike whatever runs the model
(transformers on a tiny model, llama.cpp on the bundled GGUF, an OpenAI-compatible server —
here a fake one on 127.0.0.1; tests/integration runs a real llama.cpp server)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakeoff.models.backends import BACKENDS, BackendOptions, load_model
from bakeoff.models.base import LanguageModel, ScoreRequest
from tests.unit.test_openai_backend import fake_server  # noqa: F401 — a fixture

REQUESTS = [
    ScoreRequest("Review: fun film\nSentiment:", (" positive", " negative")),
    ScoreRequest("Review: dull film\nSentiment:", (" positive", " negative", " very mixed")),
    ScoreRequest("Review: a fun and lively film\nSentiment:", (" positive", " negative")),
]


@pytest.fixture
def backend_model(request: pytest.FixtureRequest, tiny_model_dir: Path) -> Iterator[LanguageModel]:
    name: str = request.param
    if name == "transformers":
        yield load_model(str(tiny_model_dir), BackendOptions(precision="fp32"))
    elif name == "llama.cpp":
        pytest.importorskip("llama_cpp", reason="llama.cpp backend not installed (make install)")
        yield load_model("llama.cpp:smollm2-135m-instruct", BackendOptions(threads=2))
    else:
        _, url = request.getfixturevalue("fake_server")
        yield load_model(f"openai:m@{url}", BackendOptions(concurrency=2))


def test_every_registered_backend_is_covered() -> None:
    assert set(BACKENDS) == {"transformers", "llama.cpp", "openai"}


@pytest.mark.parametrize("backend_model", sorted(BACKENDS), indirect=True)
def test_scoring_contract(backend_model: LanguageModel) -> None:
    lm = backend_model
    done: list[int] = []
    scores = lm.score(REQUESTS, progress=done.append)
    assert len(scores) == len(REQUESTS) and sum(done) == len(REQUESTS)
    for request, result in zip(REQUESTS, scores, strict=True):
        assert len(result.logprobs) == len(result.n_tokens) == len(request.options)
        assert all(math.isfinite(x) and x <= 1e-6 for x in result.logprobs)  # log-probabilities
        assert all(n >= 1 for n in result.n_tokens) and result.prompt_tokens >= 1
    # a batch scores each request as it would alone (prefix caches and batching change nothing)
    alone = [lm.score([r])[0] for r in REQUESTS]
    for batched, single in zip(scores, alone, strict=True):
        assert batched.logprobs == pytest.approx(single.logprobs, abs=0.05)
    assert lm.count_tokens("Review: fun film") >= 1 and lm.n_parameters >= 0 and lm.name


@pytest.mark.parametrize("backend_model", sorted(BACKENDS), indirect=True)
def test_generation_contract(backend_model: LanguageModel) -> None:
    prompts = ["Review: fun film\nSentiment:", "Question: what is two plus two?\nAnswer:"]
    done: list[int] = []
    out = backend_model.generate(prompts, max_new_tokens=6, stop=["\n"], progress=done.append)
    assert len(out) == len(prompts) and sum(done) == len(prompts)
    for generation in out:
        assert isinstance(generation.text, str) and "\n" not in generation.text.strip()
        assert 0 <= generation.output_tokens <= 6 and generation.prompt_tokens >= 1
    again = backend_model.generate(prompts, max_new_tokens=6, stop=["\n"])
    assert [g.text for g in again] == [g.text for g in out]  # greedy: the same text twice


@pytest.mark.parametrize("backend_model", sorted(BACKENDS), indirect=True)
def test_next_token_contract(backend_model: LanguageModel) -> None:
    """What prompt search mines label words from: the top next tokens, as log-probabilities
    that agree with scoring the same token as an option."""
    prompts = [r.prompt for r in REQUESTS[:2]]
    tops = backend_model.next_tokens(prompts, 5)  # type: ignore[attr-defined]
    assert len(tops) == len(prompts)
    for prompt, top in zip(prompts, tops, strict=True):
        assert 1 <= len(top) <= 5 and all(math.isfinite(v) and v <= 1e-6 for v in top.values())
        token, logprob = max(top.items(), key=lambda kv: kv[1])
        [scored] = backend_model.score([ScoreRequest(prompt, (token,))])
        if scored.n_tokens == (1,):  # the token text re-encodes to itself
            # llama.cpp scores many rows per decode in a second context; its quantised kernels
            # round differently by batch shape (a 1-token decode vs a batch: up to 0.43 nats
            # observed on SmolLM2's Q4_1, AMD EPYC); elsewhere the two paths share the math
            noise = 0.5 if backend_model.name.startswith("llama.cpp") else 0.05
            assert scored.logprobs[0] == pytest.approx(logprob, abs=noise)
