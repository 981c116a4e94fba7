"""Every causal fine-tuning method through `bakeoff run` and `bakeoff predict` on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.unit.test_cli_run import make_task


@pytest.mark.parametrize("strategy", ["lora", "lora+few-shot", "full", "prompt-tuning"])
def test_method_trains_saves_and_reloads(
    tmp_path: Path, tiny_model_dir: Path, strategy: str
) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task",
            str(task),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--strategy",
            strategy,
            "--shots",
            "2",
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
            "--eval-rows",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    run = json.loads((out / "results.json").read_text())["runs"][0]
    training = run["training"]
    assert training["steps"] == 4 and [h["step"] for h in training["history"]] == [2, 4]
    assert training["tokens"] > 0 and training["flops"] > 0 and training["tokens_per_second"] > 0
    assert 0 < training["trainable_parameters"] <= training["parameters"]
    if strategy != "full":
        assert training["trainable_parameters"] < training["parameters"] / 5
    artifact = Path(run["artifact"])
    weights = (
        "model/model.safetensors" if strategy == "full" else "adapter/adapter_model.safetensors"
    )
    assert (artifact / weights).exists() and (artifact / "manifest.json").exists()
    assert not (out / "runs" / run["key"] / "checkpoint").exists()  # removed once the run is stored

    # the first test row, fed back through `bakeoff predict`, gets the same answer and scores
    data_lines = (tmp_path / "data.jsonl").read_text().splitlines()
    by_id = {p["id"]: p for p in run["predictions"]}
    first_id = next(iter(by_id))
    rows = tmp_path / "new.jsonl"
    rows.write_text(data_lines[int(first_id.rsplit(":", 1)[1]) - 1] + "\n")
    result = CliRunner().invoke(app, ["predict", "--artifact", str(artifact), "--input", str(rows)])
    assert result.exit_code == 0, result.output
    reloaded = json.loads(result.output.strip().splitlines()[-1])
    assert reloaded["output"] == by_id[first_id]["output"]
    for label, p in by_id[first_id]["probabilities"].items():
        assert reloaded["probabilities"][label] == pytest.approx(p, abs=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-length", "8"], "longer than --max-length 8"),
        (["--lora-targets", "c_attn"], "c_attn not in this model; its linear layers are"),
        (["--lr", "-1"], "--lr: Input should be greater than 0"),
    ],
)
def test_bad_training_settings_are_clear_errors(
    tmp_path: Path, tiny_model_dir: Path, extra: list[str], message: str
) -> None:
    args = [
        "run",
        "--task",
        str(make_task(tmp_path)),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(tmp_path / "o"),
        "--strategy",
        "lora",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
