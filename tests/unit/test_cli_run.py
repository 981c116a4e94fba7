"""`bakeoff run --task` end to end on a tiny local model: the store, results.json and the
report, reruns skip, another seed adds runs, another setup is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.conftest import write_jsonl, write_task


def make_task(folder: Path) -> Path:
    words = ["great", "fun", "good", "loved"], ["dull", "boring", "bad", "awful"]
    rows = [
        {"text": f"{w} film {i}", "label": lab}
        for i in range(10)
        for lab, ws in zip(("positive", "negative"), words, strict=True)
        for w in ws[:2]
    ]
    write_jsonl(folder / "data.jsonl", rows)
    return write_task(
        folder,
        "name: tiny\nkind: classification\ndata: {file: data.jsonl}\n"
        "fields: {input: text, label: label}\nlabels: [positive, negative]\n",
    )


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_run_writes_results_and_rerun_skips(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    args = [
        "run",
        "--task",
        str(task),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(out),
        "--strategy",
        "zero-shot",
        "--strategy",
        "few-shot",
        "--demos",
        "random",
        "--demos",
        "stratified",
        "--shots",
        "2",
        "--wordings",
        "0,1",
    ]
    code, output = invoke(*args)
    assert code == 0, output
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 6
    run = data["runs"][0]
    assert set(run["metrics"]) == {"accuracy", "macro_f1"}
    assert {"value", "ci_low", "ci_high", "higher_is_better"} <= set(run["metrics"]["accuracy"])
    assert run["usage"]["prompt_tokens_per_row"] > 0 and run["usage"]["rows_per_second"] > 0
    assert len(run["predictions"]) == data["data"]["test"]
    report = json.loads((out / "report.json").read_text())  # the same report as experiments
    assert report["wording"] and all(g["spread"] >= 0 for g in report["wording"])
    assert (out / "report.md").read_text().startswith("# bakeoff: tiny")
    assert (out / "bakeoff.sqlite").exists()  # the same run store as experiments

    before = (out / "results.json").read_text()
    code, output = invoke(*args)
    assert code == 0, output
    assert json.loads(before)["runs"] == json.loads((out / "results.json").read_text())["runs"]
    assert output.count("already done") == 6
    code, output = invoke(*args, "--quiet")  # progress hidden, the summary kept
    assert code == 0 and "already done" not in output and "Recommendation:" in output

    # another seed adds runs (few-shot draws other demos; zero-shot has no seed to vary)
    code, output = invoke(*args, "--seed", "7")
    assert code == 0, output
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 10

    with (tmp_path / "data.jsonl").open("a") as data:  # other data: other runs, other store
        data.write(json.dumps({"text": "new film", "label": "positive"}) + "\n")
    code, output = invoke(*args)
    assert code == 2 and "different setup" in output


def test_run_rejects_bad_options(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = make_task(tmp_path)
    base = [
        "run",
        "--task",
        str(task),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(tmp_path / "o"),
    ]
    for extra, message in [
        (["--strategy", "lora-ish"], "unknown"),
        (["--wordings", "0,x"], "comma-separated"),
        (["--wordings", "9"], "wording 9 does not exist"),
        (["--format", "fancy"], "--format"),
        (["--demos", "closest"], "--demos"),
        (["--device", "gpu"], "'gpu' is not a device — use auto, cpu, cuda or cuda:N"),
    ]:
        code, output = invoke(*base, *extra)
        assert code == 2, output
        assert message in " ".join(output.split())
        assert "Traceback" not in output


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    code, output = invoke(
        "run",
        "--task",
        str(make_task(tmp_path)),
        "--model",
        "no-such-model",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "model 'no-such-model' not found" in output


def test_models_lists_bundled() -> None:
    code, output = invoke("models")
    assert code == 0 and "smollm2-135m-instruct" in output and "minilm-l6" in output


def test_explain_prints_the_schedule_the_run_then_trains_on(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    base = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    lora = [*base, "--strategy", "lora", "--wordings", "0"]
    code, output = invoke(*lora, "--strategy", "encoder-head", "--explain")
    assert code == 0, output
    assert not out.exists()  # nothing was run or stored
    lines = output.splitlines()
    head = next(line for line in lines if line.startswith("lora"))
    planned = int(head.split("→ ")[1].split(" steps")[0])
    assert planned >= 150 and "floor of" in output  # 2 classes, few rows: the floor
    assert any(line.startswith("encoder-head") for line in lines)

    code, output = invoke(*lora, "--epochs", "3", "--explain")
    assert code == 0 and "3 epochs of" in output and "set by you" in output

    code, output = invoke(*base, "--strategy", "zero-shot", "--explain")
    assert code == 0 and "no trained runs" in output

    code, output = invoke(*lora, "--quiet")
    assert code == 0, output
    record = json.loads((out / "results.json").read_text())["runs"][0]
    assert record["training"]["schedule"]["steps"] == planned


def test_device_flag_runs_where_asked_or_says_why_not(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--device cpu runs there and the record says so (priced at the CPU's rate); a GPU asked
    for on a machine without one stops before any run with what to run instead."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    base = ["run", "--task", str(make_task(tmp_path)), "--model", str(tiny_model_dir)]
    code, output = invoke(*base, "--out", str(tmp_path / "gpu"), "--device", "cuda:0")
    assert code == 2 and "run with --device cpu" in " ".join(output.split()), output
    assert not (tmp_path / "gpu" / "bakeoff.sqlite").exists()
    out = tmp_path / "cpu"
    code, output = invoke(*base, "--out", str(out), "--device", "cpu", "--strategy", "zero-shot")
    assert code == 0, output
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert runs and all(r["usage"]["device"] == r["machine"]["device"] == "cpu" for r in runs)
