"""Decoding under a declared output shape on the bundled SmolLM2, on every backend: transformers
(llguidance), llama.cpp (its JSON-Schema grammar) and an OpenAI-compatible server on loopback
(`response_format`); the SQuAD-as-JSON example constrained and free, scored per field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.task.output import OutputSpec
from tests.integration.test_openai_server import server  # noqa: F401 — the fixture

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ANSWER = OutputSpec(
    json_schema={
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 40}},
        "required": ["answer"],
        "additionalProperties": False,
    }
)
PROMPTS = [
    'The Eiffel Tower is in Paris.\nQuestion: Where is the Eiffel Tower?\nJSON: {"answer":',
    "Water boils at 100 degrees.\nQuestion: At what temperature does water boil?\nJSON:",
]


def generate(model: Any, shape: OutputSpec, prompts: list[str] = PROMPTS) -> list[str]:
    return [g.text for g in model.generate(prompts, max_new_tokens=32, constraint=shape)]


def test_transformers_decodes_json_regex_and_choices_under_the_shape() -> None:
    model = load_model("smollm2-135m-instruct")
    for text in generate(model, ANSWER):
        assert ANSWER.valid(text), text
    year = OutputSpec(regex=r"(1[89]|20)[0-9]{2}")
    texts = generate(model, year, ["The tower opened in the year", "Napoleon was born in"])
    assert all(year.valid(t) for t in texts), texts
    yes_no = OutputSpec(choices=["yes", "no"])
    assert all(t in ("yes", "no") for t in generate(model, yes_no, ["Is Paris in France?"]))


def test_json_is_decoded_compact_as_demos_show_it() -> None:
    """No free whitespace: only json.dumps' separators, so a model cannot spend its budget on
    spaces and the output's length stays bounded."""
    from llguidance import LLMatcher

    from bakeoff.models.hf_constrain import ll_tokenizer

    tokenizer = ll_tokenizer(load_model("smollm2-135m-instruct"))

    def accepts(text: str) -> bool:
        matcher = LLMatcher(tokenizer, ANSWER.grammar())
        consumed = matcher.consume_tokens(tokenizer.tokenize_str(text))
        return bool(consumed) and not matcher.is_error() and matcher.is_accepting()

    assert accepts('{"answer": "x"}')
    assert not accepts('{ "answer": "x"}') and not accepts('{"answer":   "x"}')


def test_llamacpp_decodes_json_under_its_grammar() -> None:
    model = load_model("llama.cpp:smollm2-135m-instruct", BackendOptions(threads=2, context=2048))
    for text in generate(model, ANSWER):
        assert ANSWER.valid(text), text
    assert all(t in ("yes", "no") for t in generate(model, OutputSpec(choices=["yes", "no"])))


def test_openai_server_decodes_json_through_response_format(server: str) -> None:  # noqa: F811
    model = load_model(f"openai:smollm2@{server}", BackendOptions(api="chat", cache=False))
    for text in generate(model, ANSWER):
        assert ANSWER.valid(text), text


def test_squad_json_constrained_and_free(tmp_path: Path) -> None:
    """With a budget of 4 new tokens, too few for `{"answer": "`: the constrained decode takes
    the budget its shape (maxLength 120) fits in, and every output is valid."""
    example = REPO / "examples/squad_json"
    text = (example / "task.yaml").read_text().replace("max_new_tokens: 40", "max_new_tokens: 4")
    (tmp_path / "task.yaml").write_text(
        text.replace("../../../shared", str(REPO.parent / "shared"))
    )
    (tmp_path / "experiment.yaml").write_text(
        f"name: squad-json\ntask: {tmp_path / 'task.yaml'}\n"
        "strategies: [zero-shot, {name: zero-shot, decode: free}]\n"
        "wordings: [0]\ntest_size: 8\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "experiment.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "results.json").read_text())["runs"]
    constrained, free = sorted(runs, key=lambda r: r["settings"]["decode"] == "free")
    assert constrained["metrics"]["valid_rate"]["value"] == 1.0  # every output the schema's
    for run in (constrained, free):
        assert set(run["metrics"]) >= {"field_f1", "field_em", "valid_rate", "exact_match"}
    assert "| zero-shot" in (out / "report.md").read_text()
    # two candidates, two names: the free decode is marked (the report keeps them apart)
    assert (constrained["label"], free["label"]) == ("zero-shot auto w0", "zero-shot auto free w0")
