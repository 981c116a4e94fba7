"""A task's declared output shape (`output:`): checked when the task loads (bad schema, regex
that does not compile, two shapes, classification), outputs checked against it, field-level
scores, and the backends that cannot enforce a shape saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from bakeoff.evaluation.score import field_scores, score_predictions
from bakeoff.task.example import Example
from bakeoff.task.output import OutputSpec
from bakeoff.task.spec import load_task
from tests.conftest import write_jsonl, write_task

ANSWER = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def task_with(tmp_path: Path, output: str, kind: str = "generation") -> Path:
    write_jsonl(tmp_path / "data.jsonl", [{"q": f"q{i}", "a": f"a{i}"} for i in range(10)])
    fields = "{input: q, output: a}" if kind == "generation" else "{input: q, label: a}"
    labels = "labels: [a0, a1]\n" if kind == "classification" else ""
    return write_task(
        tmp_path,
        f"name: t\nkind: {kind}\ndata: {{file: data.jsonl}}\nfields: {fields}\n{labels}{output}",
    )


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("output: {json_schema: {type: strin}}", "json_schema: not a valid JSON Schema at type"),
        ("output: {regex: '[0-9'}", "regex: does not compile"),
        ("output: {regex: 'a', choices: [a]}", "exactly one of json_schema, regex or choices"),
        ("output: {choices: [a, a]}", "choices: give a list of distinct, non-empty strings"),
        ("output: {}", "give exactly one of json_schema, regex or choices"),
        ("metrics: [valid_rate]", "unknown metric 'valid_rate'"),
    ],
)
def test_bad_shapes_are_clear_errors_naming_the_field(
    tmp_path: Path, output: str, message: str
) -> None:
    path = task_with(tmp_path, output)
    with pytest.raises(BakeoffError) as caught:
        load_task(path)
    text = " ".join(str(caught.value).split())
    assert message in text and str(path) in text


def test_classification_cannot_declare_a_shape(tmp_path: Path) -> None:
    path = task_with(tmp_path, "output: {choices: [a0, a1]}", kind="classification")
    with pytest.raises(BakeoffError, match="`output:` is for generation tasks"):
        load_task(path)


def test_outputs_are_checked_against_the_shape() -> None:
    schema = OutputSpec(json_schema=ANSWER)
    assert schema.valid('{"answer": "Paris"}') and schema.valid('{ "answer" : "x" }')
    assert not schema.valid('{"answer": 3}') and not schema.valid('{"answer": "x", "y": 1}')
    assert not schema.valid("Paris") and not schema.valid('{"answer": "Par')
    regex = OutputSpec(regex=r"[0-9]{4}")
    assert regex.valid("1999") and not regex.valid("1999 ") and not regex.valid("99")
    choices = OutputSpec(choices=["yes", "no"])
    assert choices.valid("no") and not choices.valid("No")
    for shape in (schema, regex, choices):
        assert shape.grammar()  # an llguidance grammar for each


def test_field_scores_against_plain_and_json_references() -> None:
    schema = OutputSpec(json_schema=ANSWER)
    assert field_scores(schema, '{"answer": "the Eiffel Tower"}', ("Eiffel Tower",)) == (1.0, 1.0)
    em, f1 = field_scores(schema, '{"answer": "the tall Eiffel Tower"}', ("Eiffel Tower",))
    assert em == 0.0 and 0.5 < f1 < 1.0
    assert field_scores(schema, "Eiffel Tower", ("Eiffel Tower",)) == (0.0, 0.0)  # not JSON
    two = OutputSpec(
        json_schema={"type": "object", "properties": {"city": {}, "year": {"type": "integer"}}}
    )
    gold = json.dumps({"city": "Paris", "year": 1889})
    assert field_scores(two, '{"city": "Paris", "year": 1889}', (gold,)) == (1.0, 1.0)
    assert field_scores(two, '{"city": "Paris"}', (gold,)) == (0.5, 0.5)  # a missing field: 0


def test_structured_tasks_score_validity_and_fields(tmp_path: Path) -> None:
    task = load_task(task_with(tmp_path, "output: {json_schema: " + json.dumps(ANSWER) + "}"))
    assert task.metric_names[:3] == ["field_f1", "field_em", "valid_rate"]
    gold = [Example(str(i), f"q{i}", references=(f"a{i}",)) for i in range(4)]
    outputs = ['{"answer": "a0"}', '{"answer": "a1"}', "a2", '{"answer": "wrong"}']
    scored = score_predictions(task, gold, outputs, n_boot=0)
    values = {k: v["value"] for k, v in scored["metrics"].items()}
    assert values["valid_rate"] == 0.75 and values["field_em"] == 0.5
    assert values["exact_match"] == 0.25 and scored["invalid_outputs"] == 1  # "a2" as text


def test_backends_that_cannot_enforce_a_shape_say_so() -> None:
    from bakeoff.models.llamacpp import llama_grammar
    from bakeoff.models.openai_http import response_format

    with pytest.raises(BakeoffError, match=r"cannot enforce an `output\.regex`"):
        llama_grammar(OutputSpec(regex="[0-9]+"))
    with pytest.raises(BakeoffError, match="enforces only a JSON Schema"):
        response_format(OutputSpec(choices=["a", "b"]), "chat")
    with pytest.raises(BakeoffError, match="the completions API"):
        response_format(OutputSpec(json_schema=ANSWER), "completions")
    shaped = response_format(OutputSpec(json_schema=ANSWER), "chat")
    assert shaped["response_format"]["json_schema"]["schema"] == ANSWER


def test_demos_and_training_targets_take_the_shape() -> None:
    """A fine-tuned candidate decodes under the shape, so it must learn outputs of the shape
    (and few-shot demos must show them): SQuAD's plain answers become {"answer": …}."""
    schema = OutputSpec(json_schema=ANSWER)
    assert json.loads(schema.shaped("Denver Broncos")) == {"answer": "Denver Broncos"}
    assert schema.shaped('{"answer": "x"}') == '{"answer": "x"}'  # already an object
    assert OutputSpec(regex="[0-9]+").shaped("1999") == "1999"


def test_a_generation_task_has_no_undeclared_labels(tmp_path: Path) -> None:
    """`bakeoff update --data` reads new rows' labels first; a generation task has none (this
    asserted a label field and would have crashed an update of a generation experiment)."""
    from bakeoff.task.load import read_rows
    from bakeoff.task.validate import undeclared_labels

    task = load_task(task_with(tmp_path, ""))
    assert undeclared_labels(read_rows(tmp_path / "data.jsonl").rows, task) == {}


@pytest.mark.parametrize(
    ("shape", "longest"),
    [
        ({"json_schema": {"type": "string", "maxLength": 3}}, 2 + 6 * 3),  # \uXXXX: 6 B/char
        ({"json_schema": {"type": "integer", "minimum": -5, "maximum": 1000}}, 4),
        ({"json_schema": {"enum": ["a", "long one", 7]}}, 2 + 6 * 8),
        ({"json_schema": {"type": ["boolean", "null"]}}, 5),
        (  # {"k": <5 bytes>} with room over the separators llguidance writes
            {
                "json_schema": {
                    "type": "object",
                    "properties": {"k": {"type": "boolean"}},
                    "additionalProperties": False,
                }
            },
            4 + (2 + 6) + 3 + 5,
        ),
        (
            {"json_schema": {"type": "array", "items": {"const": 1}, "maxItems": 3}},
            4 + 3 + 2 * 2,
        ),
        ({"json_schema": {"anyOf": [{"const": "xy"}, {"type": "null"}]}}, 2 + 6 * 2),
        ({"json_schema": ANSWER}, None),  # a string without maxLength: no bound
        ({"json_schema": {"type": "string", "pattern": "^a$"}}, None),  # searched, unanchored
        ({"json_schema": {"anyOf": [{"type": "string", "maxLength": 2}, True]}}, None),
        ({"json_schema": {"enum": [1e-07]}}, None),  # written 0.0000001 by the grammar
        ({"json_schema": {"type": "number", "minimum": 0, "maximum": 1}}, None),  # decimals
        ({"json_schema": {"type": "array", "items": {"const": 1}}}, None),  # no maxItems
        (  # its own whitespace settings: the bound no longer holds
            {"json_schema": {"type": "boolean", "x-guidance": {"whitespace_flexible": True}}},
            None,
        ),
        ({"regex": "[0-9]{2,4}-(a|bc)"}, 4 * 7),  # characters of up to 4 bytes
        ({"regex": "[0-9]+"}, None),
        ({"choices": ["yes", "ünsure"]}, 7),
    ],
)
def test_the_longest_output_a_shape_allows(shape: dict, longest: int | None) -> None:  # type: ignore[type-arg]
    spec = OutputSpec.model_validate(shape)
    assert spec.longest_bytes == longest
    assert spec.token_budget(2) == (2 if longest is None else longest + 1)
    assert spec.token_budget(2, spaced=True) == (2 if longest is None else 2 * longest + 1)
    assert spec.token_budget(10_000) == 10_000  # a larger budget asked for stays


def test_llamacpp_json_strings_exclude_control_characters() -> None:
    """llama-cpp-python's converter lets a raw newline into a JSON string (measured on SQuAD);
    the grammar bakeoff hands llama.cpp uses llama.cpp's own strict rule."""
    from bakeoff.models.llamacpp import JSON_CHAR_RULE, llama_grammar

    schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 3}}}
    gbnf = llama_grammar(OutputSpec(json_schema=schema))._grammar
    rules = [line for line in gbnf.splitlines() if line.startswith("char ::=")]
    assert rules == [JSON_CHAR_RULE]
    assert r'[^"\\\x7F\x00-\x1F]' in JSON_CHAR_RULE  # llama.cpp's json-schema-to-grammar


@pytest.mark.parametrize(("spaced", "free"), [(False, False), (True, False), (True, True)])
def test_every_backend_gets_the_budget_its_shape_fits_in(spaced: bool, free: bool) -> None:
    """A constrained decode asks the model for the shape's budget (doubled where the backend's
    grammar may add a space after each token: llama.cpp, OpenAI-compatible servers); a free
    decode asks for the task's max_new_tokens."""
    from bakeoff.models.base import Generation
    from bakeoff.prompting.demos import FixedDemos
    from bakeoff.prompting.layout import PromptLayout
    from bakeoff.prompting.strategies import PromptCandidate, PromptSettings
    from bakeoff.task.spec import TaskSpec

    schema = {**ANSWER, "properties": {"answer": {"type": "string", "maxLength": 10}}}
    task = TaskSpec.model_validate(
        {
            "name": "t",
            "kind": "generation",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "q", "output": "a"},
            "output": {"json_schema": schema},
            "generation": {"max_new_tokens": 4},
        }
    )

    class BudgetLM:
        name, n_parameters, has_chat_template = "budget", 1, False
        shape_spaced = spaced

        def __init__(self) -> None:
            self.asked: list[int] = []

        def count_tokens(self, text: str) -> int:
            return len(text.split())

        def generate(self, prompts: list[str], **kwargs: object) -> list[Generation]:
            self.asked.append(int(kwargs["max_new_tokens"]))  # type: ignore[call-overload]
            return [Generation('{"answer": "x"}', 1, 1) for _ in prompts]

    lm = BudgetLM()
    settings = PromptSettings(decode="free" if free else "score")
    layout = PromptLayout("plain", "Answer as JSON.")
    candidate = PromptCandidate(task, lm, layout, FixedDemos([]), settings)  # type: ignore[arg-type]
    candidate.predict([Example("0", "q0", references=("a0",))])
    longest = task.output.longest_bytes  # type: ignore[union-attr]
    assert longest is not None and longest > 4
    expected = 4 if free else (2 if spaced else 1) * longest + 1
    assert lm.asked == [expected]
