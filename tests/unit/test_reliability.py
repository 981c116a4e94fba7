"""The reliability table: a hostile new user's inputs, each with the exact words its message
must hold. Every case must end in exit code 2 with one clear message (never a traceback) that
names the file, line, field or flag to change. Cases are cheap: nothing here loads a model.

Beyond these, tests/fixtures/bad (30 broken task and data files), test_hardening.py (names as
paths, YAML bombs, special files, pickles, keys in URLs) and the store tests below.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app

ROWS = [
    {"text": f"{w} film {i}", "label": lab}
    for i in range(10)
    for lab, ws in (("positive", ("great", "fun")), ("negative", ("dull", "boring")))
    for w in ws
]
TASK = (
    "name: tiny\nkind: classification\ndata: {file: data.jsonl}\n"
    "fields: {input: text, label: label}\nlabels: [positive, negative]\n"
)
SPLIT_TASK = TASK.replace("{file: data.jsonl}", "{train: train.jsonl, test: test.jsonl}")
GEN_TASK = (
    "name: gen\nkind: generation\ndata: {file: data.jsonl}\nfields: {input: text, output: label}\n"
)
EXPERIMENT = "name: exp\ntask: task.yaml\nstrategies: [zero-shot]\n"


def jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def with_lines(rows: list[dict[str, object]], extra: list[str]) -> str:
    return jsonl(rows) + "".join(line + "\n" for line in extra)


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]  # "{d}" is the case's folder
    expect: str  # words the message must hold, exactly
    files: dict[str, str | bytes] = field(default_factory=dict)  # over task.yaml + data.jsonl
    prepare: Callable[[Path], None] | None = None
    names: str | None = "{d}"  # what the message must also name (a path or a flag)


def validate(expect: str, task: str = TASK, **files: str | bytes) -> Case:
    return Case("", ("validate", "{d}/task.yaml"), expect, {"task.yaml": task, **files})


def run_task(expect: str, *flags: str, names: str | None = None) -> Case:
    args = ("run", "--task", "{d}/task.yaml", "--out", "{d}/out", *flags)
    return Case("", args, expect, names=names)


def experiment(expect: str, body: str, **files: str | bytes) -> Case:
    args = ("run", "{d}/experiment.yaml", "--out", "{d}/out")
    return Case("", args, expect, {"experiment.yaml": body, **files})


def named(name: str, case: Case) -> Case:
    return Case(name, case.args, case.expect, case.files, case.prepare, case.names)


SPLIT_FILES = {"train.jsonl": jsonl(ROWS[:16]), "test.jsonl": jsonl(ROWS[16:])}
LONG = {"text": "word " * 5000, "label": "positive"}

TASK_CASES = [
    named("task_is_a_folder", Case("", ("validate", "{d}"), "not a regular file")),
    named("task_missing", Case("", ("validate", "{d}/nope.yaml"), "not found")),
    named("task_empty", validate("expected a mapping", "")),
    named("task_a_list", validate("expected a mapping", "- a\n- b\n")),
    named("task_binary", validate("not UTF-8 text", b"\x00\xff\xfe garbage")),
    named("task_name_path", validate("field 'name'", TASK.replace("name: tiny", "name: ../x"))),
    named(
        "instruction_undefined",
        validate(
            "prompt.instructions[0]: template uses an undefined name",
            TASK + "prompt: {instructions: ['Pick {{ lables }}']}\n",
        ),
    ),
    named(
        "instruction_divides_by_zero",
        validate(
            "prompt.instructions[0]: template failed: ZeroDivisionError",
            TASK + "prompt: {instructions: ['{{ 1/0 }}']}\n",
        ),
    ),
    named(
        "instruction_escapes_sandbox",
        validate(
            "prompt.instructions[0]: template blocked by the sandbox",
            TASK + "prompt: {instructions: [\"{{ ''.__class__.__mro__[1].__subclasses__() }}\"]}\n",
        ),
    ),
    named(
        "instruction_syntax",
        validate("not a valid Jinja template", TASK + "prompt: {instructions: ['{{ x ']}\n"),
    ),
    named(
        "input_template_divides_by_zero",
        validate(
            "field 'input_template': template failed: ZeroDivisionError",
            TASK.replace(
                "{input: text, label: label}", "{input_template: '{{ 1/0 }}', label: label}"
            ),
        ),
    ),
    named(
        "input_template_undefined",
        validate(
            "field 'input_template': template uses an undefined name",
            TASK.replace(
                "{input: text, label: label}", "{input_template: '{{ txt }}', label: label}"
            ),
        ),
    ),
    named(
        "lone_surrogate",
        validate(
            "data.jsonl:41: field 'text': invalid character at position 5",
            **{"data.jsonl": with_lines(ROWS, ['{"text": "evil \\ud800", "label": "positive"}'])},
        ),
    ),
    named(
        "input_too_long",
        validate(
            "data.jsonl:41: field 'text': input is 25,000 characters, over the limit of 16,000",
            **{"data.jsonl": jsonl([*ROWS, LONG])},
        ),
    ),
    named(
        "input_over_own_limit",
        validate(
            "over the limit of 10",
            TASK.replace("{file: data.jsonl}", "{file: data.jsonl, max_input_chars: 10}"),
        ),
    ),
    named(
        "max_input_chars_zero",
        validate(
            "field 'data.max_input_chars'",
            TASK.replace("{file: data.jsonl}", "{file: data.jsonl, max_input_chars: 0}"),
        ),
    ),
    named(
        "duplicate_json_key",
        validate(
            "data.jsonl:41: field 'label': the key appears twice",
            **{
                "data.jsonl": with_lines(
                    ROWS, ['{"text": "x y", "label": "positive", "label": "negative"}']
                )
            },
        ),
    ),
    named(
        "conflict_in_test",
        validate(
            "test.jsonl:25: field 'text': same text as",
            SPLIT_TASK,
            **{
                **SPLIT_FILES,
                "test.jsonl": with_lines(
                    ROWS[16:], ['{"text": "great film 8", "label": "negative"}']
                ),
            },
        ),
    ),
    named(
        "conflict_in_validation",
        validate(
            "validation.jsonl:2: field 'text': same text as",
            SPLIT_TASK.replace(
                "test: test.jsonl", "test: test.jsonl, validation: validation.jsonl"
            ),
            **SPLIT_FILES,
            **{
                "validation.jsonl": jsonl(
                    [
                        {"text": "new one", "label": "positive"},
                        {"text": "new one", "label": "negative"},
                    ]
                )
            },
        ),
    ),
    named("data_is_a_folder", validate("is a folder", TASK.replace("data.jsonl", "sub"), sub="")),
    named("split_test_too_big", validate("field 'split.test'", TASK + "split: {test: 1.5}\n")),
    named(
        "split_validation_negative",
        validate("field 'split.validation'", TASK + "split: {validation: -0.1}\n"),
    ),
    named(
        "generation_zero_tokens",
        validate(
            "field 'generation.max_new_tokens'", GEN_TASK + "generation: {max_new_tokens: 0}\n"
        ),
    ),
    named(
        "generation_label_field_missing",
        validate("missing output field", GEN_TASK.replace("output: label", "output: answer")),
    ),
    named(
        "labels_not_a_list", validate("field 'labels'", TASK.replace("[positive, negative]", "7"))
    ),
    named("label_empty_name", validate("field 'labels.1.name'", TASK.replace("negative]", "'']"))),
    named(
        "verbalizers_clash",
        validate(
            "two labels share a verbalizer",
            TASK.replace(
                "[positive, negative]", "[{name: a, verbalizer: x}, {name: b, verbalizer: x}]"
            ),
        ),
    ),
    named(
        "data_key_unknown",
        validate("field 'data.fiel': unknown field", TASK.replace("{file:", "{fiel: x, file:")),
    ),
    named(
        "two_data_sources",
        validate("give exactly one of", TASK.replace("{file:", "{train: t.jsonl, file:")),
    ),
    named("task_bom_and_tabs", validate("not valid YAML", "\tname: x\n")),
]

EXPERIMENT_CASES = [
    named(
        "experiment_unknown_strategy",
        experiment("no-such", EXPERIMENT.replace("zero-shot", "no-such")),
    ),
    named(
        "experiment_train_size_zero",
        experiment("train sizes must be at least 2", EXPERIMENT + "train_sizes: [0]\n"),
    ),
    named("experiment_negative_seed", experiment("field 'seeds'", EXPERIMENT + "seeds: [-1]\n")),
    named(
        "experiment_test_size_zero", experiment("field 'test_size'", EXPERIMENT + "test_size: 0\n")
    ),
    named(
        "experiment_wording_missing",
        experiment("wording 9 does not exist", EXPERIMENT + "wordings: [9]\n"),
    ),
    named(
        "experiment_grid_over_cap",
        experiment(
            "over the default cap of 200",
            EXPERIMENT.replace("[zero-shot]", "[few-shot]") + f"seeds: {list(range(201))}\n",
        ),
    ),
    named(
        "experiment_grid_over_budget",
        experiment(
            "budget.max_runs is 1",
            EXPERIMENT.replace("[zero-shot]", "[zero-shot, few-shot]") + "budget: {max_runs: 1}\n",
        ),
    ),
    named(
        "experiment_task_missing",
        experiment("not found", EXPERIMENT.replace("task.yaml", "nope.yaml")),
    ),
    named(
        "experiment_shots_zero",
        experiment("shots", EXPERIMENT.replace("[zero-shot]", "[{name: few-shot, shots: 0}]")),
    ),
    named(
        "experiment_demos_unknown",
        experiment(
            "demos", EXPERIMENT.replace("[zero-shot]", "[{name: few-shot, demos: nearest}]")
        ),
    ),
    named(
        "experiment_demos_for_lora",
        experiment(
            "apply to few-shot prompts, not to 'lora'",
            EXPERIMENT.replace("[zero-shot]", "[{name: lora, demos: knn}]"),
        ),
    ),
    named(
        "experiment_lr_too_high",
        experiment("lr", EXPERIMENT.replace("[zero-shot]", "[{name: lora, training: {lr: 5}}]")),
    ),
    named(
        "experiment_epochs_zero",
        experiment(
            "epochs", EXPERIMENT.replace("[zero-shot]", "[{name: lora, training: {epochs: 0}}]")
        ),
    ),
    named(
        "experiment_lora_rank_zero",
        experiment("r", EXPERIMENT.replace("[zero-shot]", "[{name: lora, lora: {r: 0}}]")),
    ),
    named(
        "experiment_training_typo",
        experiment(
            "unknown setting",
            EXPERIMENT.replace("[zero-shot]", "[{name: lora, training: {epoch: 1}}]"),
        ),
    ),
    named(
        "experiment_same_runs_twice",
        experiment(
            "two entries describe the same runs",
            EXPERIMENT.replace("[zero-shot]", "[zero-shot, zero-shot]"),
        ),
    ),
    named("experiment_a_list", experiment("expected a mapping", "- zero-shot\n")),
    named(
        "experiment_unknown_key",
        experiment("field 'seedz': unknown field", EXPERIMENT + "seedz: [1]\n"),
    ),
    named(
        "experiment_no_strategies", experiment("field 'strategies'", "name: exp\ntask: task.yaml\n")
    ),
    named(
        "experiment_bad_prices",
        experiment("field 'prices.cpu_hour_usd'", EXPERIMENT + "prices: {cpu_hour_usd: -1}\n"),
    ),
    named(
        "experiment_bad_constraint",
        experiment("field 'constraints", EXPERIMENT + "constraints: {max_latency_ms: -5}\n"),
    ),
    named(
        "out_is_a_file",
        Case(
            "",
            ("run", "--task", "{d}/task.yaml", "--out", "{d}/task.yaml"),
            "is a file, not a folder",
        ),
    ),
]

FLAG_CASES = [
    named(
        "flag_limit_test_negative",
        run_task("--limit-test", "--limit-test", "-1", names="--limit-test"),
    ),
    named(
        "flag_train_size_zero",
        run_task("train sizes must be at least 2", "--train-size", "0", names=None),
    ),
    named(
        "flag_shots_zero", run_task("--shots", "-s", "few-shot", "--shots", "0", names="--shots")
    ),
    named("flag_seed_negative", run_task("non-negative", "--seed", "-1", names=None)),
    named(
        "flag_wording_missing",
        run_task("wording 9 does not exist", "--wordings", "9", names="wordings"),
    ),
    named(
        "flag_wordings_not_numbers",
        run_task("expected comma-separated numbers", "--wordings", "a,b", names="--wordings"),
    ),
    named("flag_strategy_unknown", run_task("no-such", "--strategy", "no-such", names=None)),
    named(
        "flag_demos_unknown",
        run_task("nearest", "-s", "few-shot", "--demos", "nearest", names=None),
    ),
    named("flag_format_unknown", run_task("--format", "--format", "weird", names="--format")),
    named("flag_decode_unknown", run_task("--decode", "--decode", "maybe", names="--decode")),
    named(
        "flag_precision_unknown",
        run_task("--precision", "-s", "lora", "--precision", "fp8", names="--precision"),
    ),
    named("flag_lr_too_high", run_task("--lr", "-s", "lora", "--lr", "2", names="--lr")),
    named(
        "flag_batch_size_zero",
        run_task("--batch-size", "-s", "lora", "--batch-size", "0", names="--batch-size"),
    ),
    named(
        "flag_epochs_zero", run_task("--epochs", "-s", "lora", "--epochs", "0", names="--epochs")
    ),
    named(
        "flag_lora_dropout_one",
        run_task("--lora-dropout", "-s", "lora", "--lora-dropout", "1", names="--lora-dropout"),
    ),
    named(
        "flag_virtual_tokens_zero",
        run_task(
            "--prompt-tuning-virtual-tokens",
            "-s",
            "prompt-tuning",
            "--virtual-tokens",
            "0",
            names="--prompt-tuning-virtual-tokens",
        ),
    ),
    named(
        "flag_concurrency_zero",
        run_task("--concurrency", "--concurrency", "0", names="--concurrency"),
    ),
    named(
        "flag_model_url_with_key",
        run_task(
            "credentials in its URL",
            "--model",
            "openai:m@http://u:sk-secret@127.0.0.1:9/v1",
            names=None,
        ),
    ),
    named(
        "flag_model_missing_folder",
        run_task("./no/such/model", "--model", "./no/such/model", names=None),
    ),
    named(
        "flag_search_calls_zero",
        run_task(
            "--search-calls: Input should be greater than or equal to 1",
            "-s",
            "prompt-search",
            "--search-calls",
            "0",
            names=None,
        ),
    ),
    named(
        "experiment_search_typo",
        experiment(
            "max_cals",
            EXPERIMENT.replace("[zero-shot]", "[{name: prompt-search, search: {max_cals: 5}}]"),
        ),
    ),
    named(
        "flag_task_without_out",
        Case("", ("run", "--task", "{d}/task.yaml"), "both --task and --out", names=None),
    ),
]


def _sqlite_with_meta(value: str) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        conn = sqlite3.connect(folder / "out" / "bakeoff.sqlite")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('experiment', ?)", (value,))
        conn.execute("INSERT INTO meta VALUES ('setup', '{}')")
        conn.commit()
        conn.close()

    return prepare


def _truncated_store(folder: Path) -> None:
    _sqlite_with_meta('{"task": "x"}')(folder)
    path = folder / "out" / "bakeoff.sqlite"
    path.write_bytes(path.read_bytes()[:1500])


def _manifest(text: str) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        (folder / "art").mkdir()
        (folder / "art" / "manifest.json").write_text(text)

    return prepare


MANIFEST_TASK = {
    "name": "t",
    "kind": "classification",
    "data": {"file": "x.jsonl"},
    "fields": {"input": "text", "label": "label"},
    "labels": ["a", "b"],
}
DAMAGED = "damaged or not a bakeoff store"
GARBAGE = {"out/bakeoff.sqlite": b"not a database at all " * 200}
PREDICT = ("predict", "--artifact", "{d}/art", "--input", "{d}/data.jsonl")

STORE_CASES = [
    named("status_no_store", Case("", ("status", "{d}"), "no bakeoff.sqlite here")),
    named("status_garbage_store", Case("", ("status", "{d}/out"), DAMAGED, GARBAGE)),
    named("report_garbage_store", Case("", ("report", "{d}/out"), "bakeoff rebuild", GARBAGE)),
    named("advise_garbage_store", Case("", ("advise", "{d}/out"), DAMAGED, GARBAGE)),
    named("serve_garbage_store", Case("", ("serve", "{d}/out"), DAMAGED, GARBAGE)),
    named(
        "run_into_garbage_store",
        Case("", ("run", "--task", "{d}/task.yaml", "--out", "{d}/out"), DAMAGED, GARBAGE),
    ),
    named(
        "status_truncated_store", Case("", ("status", "{d}/out"), DAMAGED, prepare=_truncated_store)
    ),
    named(
        "status_meta_not_json",
        Case("", ("status", "{d}/out"), DAMAGED, prepare=_sqlite_with_meta("{nope")),
    ),
    named(
        "status_meta_wrong_shape",
        Case("", ("status", "{d}/out"), DAMAGED, prepare=_sqlite_with_meta('{"task": 5}')),
    ),
    named(
        "report_meta_wrong_shape",
        Case("", ("report", "{d}/out"), DAMAGED, prepare=_sqlite_with_meta('{"task": 5}')),
    ),
    named(
        "rebuild_without_setup",
        Case("", ("rebuild", "{d}"), "setup.json: cannot rebuild without it"),
    ),
    named("predict_no_artifact", Case("", PREDICT, "manifest", names="art")),
    named(
        "predict_manifest_not_json",
        Case("", PREDICT, "not a bakeoff manifest", prepare=_manifest("{nope")),
    ),
    named(
        "predict_manifest_bad_task",
        Case("", PREDICT, "task: invalid settings", prepare=_manifest('{"task": {}, "format": 2}')),
    ),
    named(
        "predict_manifest_unknown_loader",
        Case(
            "",
            PREDICT,
            "evil",
            prepare=_manifest(json.dumps({"task": MANIFEST_TASK, "loader": "evil", "format": 2})),
        ),
    ),
    named("serve_nothing", Case("", ("serve", "{d}"), "nothing to serve")),
]

CASES = TASK_CASES + EXPERIMENT_CASES + FLAG_CASES + STORE_CASES


def test_the_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reliability_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAKEOFF_LOG_DIR", str(tmp_path / "logs"))
    files: dict[str, str | bytes] = {"task.yaml": TASK, "data.jsonl": jsonl(ROWS), **case.files}
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "sub":
            path.mkdir()
            continue
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "out").mkdir(exist_ok=True)
    if case.prepare is not None:
        case.prepare(tmp_path)
    args = [a.replace("{d}", str(tmp_path)) for a in case.args]
    result = CliRunner().invoke(app, args)
    output = " ".join(result.output.split())  # rich may wrap long lines
    assert result.exit_code == 2, output
    assert "Traceback" not in output and "bakeoff bug" not in output, output
    assert not (tmp_path / "logs").exists(), "an expected failure must not be logged as a bug"
    assert case.expect in output, output
    if case.names is not None:
        assert case.names.replace("{d}", str(tmp_path)) in output, output
    assert "sk-secret" not in output
