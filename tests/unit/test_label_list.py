"""A trained run's prompt leaves out a long label list (the model learns the labels from the
rows): decided by the label count, shown by --explain, recorded in the run, and it leaves the
keys of runs made before the setting existed as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from bakeoff.experiment.plan import RunConfig
from bakeoff.experiment.registry import default_training
from bakeoff.finetuning.config import TrainConfig
from bakeoff.finetuning.label_list import LONG_LABEL_LIST, drops_label_list, short_instruction
from bakeoff.strategy_registry import resolve
from bakeoff.task.spec import TaskSpec
from tests.conftest import write_jsonl, write_task
from tests.unit.test_cli_run import invoke


def many_label_task(folder: Path, n_labels: int) -> Path:
    labels = [f"topic_{i}" for i in range(n_labels)]
    rows = [
        {"text": f"message about {lab} number {j}", "label": lab}
        for lab in labels
        for j in range(6)
    ]
    write_jsonl(folder / "data.jsonl", rows)
    return write_task(
        folder,
        "name: many\nkind: classification\ndescription: The topic of a message.\n"
        "data: {file: data.jsonl}\nfields: {input: text, label: label}\n"
        f"labels: [{', '.join(labels)}]\nprompt: {{input_prefix: Message, output_prefix: Topic}}\n",
    )


def spec(n_labels: int) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "t",
            "kind": "classification",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "text", "label": "label"},
            "labels": [f"l{i}" for i in range(n_labels)],
        }
    )


@pytest.mark.parametrize(
    ("setting", "n_labels", "dropped"),
    [
        ("auto", LONG_LABEL_LIST, False),  # TREC's 6, AG News' 4: listed as before
        ("auto", LONG_LABEL_LIST + 1, True),  # Banking77's 77: left out
        ("keep", 77, False),
        ("drop", 2, True),
    ],
)
def test_the_label_count_decides_unless_the_user_does(
    setting: str, n_labels: int, dropped: bool
) -> None:
    assert drops_label_list(setting, spec(n_labels)) is dropped  # type: ignore[arg-type]


def test_the_short_instruction_names_what_to_answer() -> None:
    task = spec(30).model_copy(update={"description": "The intent of a message."})
    assert short_instruction(task) == "The intent of a message. Answer with its category."
    assert short_instruction(spec(30)) == "Answer with its category."


def test_run_keys_made_before_the_setting_stay_the_same() -> None:
    """`label_list` at its default is not part of a run's key: old stores resume."""
    lora = resolve("lora")
    plain = default_training(lora, {"train": {}}, "training")
    assert "label_list" not in plain["train"]
    dropped = default_training(lora, {"train": {"label_list": "drop"}}, "training")
    assert dropped["train"]["label_list"] == "drop"
    key = RunConfig("lora", {"training": plain}, "m", 0).key
    assert key != RunConfig("lora", {"training": dropped}, "m", 0).key
    assert TrainConfig.model_validate(plain["train"]).label_list == "auto"


def test_a_long_label_list_leaves_the_trained_prompt(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = many_label_task(tmp_path, LONG_LABEL_LIST + 5)
    out = tmp_path / "out"
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    args += ["--strategy", "lora", "--wordings", "0", "--max-steps", "2", "--eval-rows", "4"]
    code, output = invoke(*args, "--explain")
    assert code == 0, output
    assert "leaves out its list of 25 labels (more than 20 labels)" in " ".join(output.split())
    # LoRA adapts every linear layer for classification (tests/unit/test_lora_targets.py)
    assert "adapted: all-linear (auto: every linear layer for classification" in (
        " ".join(output.split())
    )
    code, output = invoke(*args, "--quiet")
    assert code == 0, output
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert "25 labels" in run["training"]["prompt"]
    assert run["training"]["adapted"].startswith("all-linear (auto:")
    assert "adapted: all-linear (auto:" in (out / "report.md").read_text()
    adapter = Path(run["artifact"]) / "adapter" / "adapter_model.safetensors"
    assert any("down_proj.lora_A" in k for k in load_file(adapter))
    instruction = run["candidate"]["instruction"]
    assert instruction == "The topic of a message. Answer with the topic."
    assert "topic 3" not in run["candidate"]["example_prompt"]

    code, output = invoke(
        *[a if a != str(out) else str(tmp_path / "kept") for a in args],
        "--label-list",
        "keep",
        "--quiet",
    )
    assert code == 0, output
    kept = json.loads((tmp_path / "kept" / "results.json").read_text())["runs"][0]
    assert "prompt" not in kept["training"] and "topic 3" in kept["candidate"]["instruction"]


def test_an_instruction_without_the_list_is_kept() -> None:
    from bakeoff.finetuning.label_list import label_list_reason
    from bakeoff.prompting.wordings import render_instruction

    task = spec(LONG_LABEL_LIST + 1)
    assert label_list_reason("auto", task, "Name the topic of the message.") is None
    listed = render_instruction(task, 0)  # the built-in wording lists every label
    assert label_list_reason("auto", task, listed) is not None
