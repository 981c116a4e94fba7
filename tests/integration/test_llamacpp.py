"""The llama.cpp backend on the bundled SmolLM2 GGUF: scores, chat template, generation, and a
zero-shot + few-shot bake-off through `bakeoff run`, agreeing with the transformers backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.models.base import ScoreRequest
from tests.conftest import SST2_PROMPT_RUN, prediction_agreement

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair() -> tuple[Any, Any]:
    return (
        load_model("llama.cpp:smollm2-135m-instruct", BackendOptions(threads=2, context=2048)),
        load_model("smollm2-135m-instruct", BackendOptions(precision="fp32")),
    )


def test_scores_match_transformers_on_the_same_weights(pair: tuple[Any, Any]) -> None:
    lc, hf = pair
    assert lc.n_parameters == hf.n_parameters
    options = (" positive", " negative", " rather positive")  # the last has several tokens
    requests = [
        ScoreRequest("Review: a great fun film\nSentiment:", options),
        ScoreRequest("Review: boring and far too long\nSentiment:", options),
        ScoreRequest("Review: a great fun film\nSentiment:", options),  # fully cached prompt
    ]
    ours, theirs = lc.score(requests), hf.score(requests)
    for a, b in zip(ours, theirs, strict=True):
        assert a.n_tokens == b.n_tokens and a.prompt_tokens == b.prompt_tokens
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.3)  # llama.cpp: int8 activations
    assert ours[0].logprobs == ours[2].logprobs
    assert ours[0].logprobs[0] > ours[0].logprobs[1] and ours[1].logprobs[1] > ours[1].logprobs[0]


def test_chat_template_and_generation(pair: tuple[Any, Any]) -> None:
    lc, hf = pair
    messages = [{"role": "user", "content": "Name a colour."}]
    assert lc.has_chat_template and lc.render_chat(messages) == hf.render_chat(messages)
    out = lc.generate(["The capital of France is"], max_new_tokens=6, stop=["\n", "."])
    assert "Paris" in out[0].text and 0 < out[0].output_tokens <= 6


def test_bakeoff_run_through_llamacpp(tmp_path: Path) -> None:
    args = [*SST2_PROMPT_RUN, "--threads", "2"]
    result = CliRunner().invoke(
        app, [*args, "--model", "llama.cpp:smollm2-135m-instruct", "--out", str(tmp_path / "lc")]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    lc = json.loads((tmp_path / "lc/results.json").read_text())["runs"]
    hf = json.loads((tmp_path / "hf/results.json").read_text())["runs"]
    assert lc[0]["metrics"]["accuracy"]["value"] >= 0.6  # zero-shot: well above chance
    # few-shot accuracy depends on the 4 demos drawn: compare outputs, not accuracy
    assert all(share >= 0.85 for share in prediction_agreement(lc, hf))
