"""The Python API (`import bakeoff`): the same pipeline, objects and errors as the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bakeoff
from bakeoff.cli import app
from tests.unit.test_cli_run import make_task

GRID = {
    "strategies": ["zero-shot", {"name": "few-shot", "demos": "random", "shots": 2}],
    "train_sizes": [8],
    "wordings": [0],
}


def test_import_bakeoff_stays_light() -> None:
    code = "import sys, bakeoff; print('torch' in sys.modules, 'bakeoff.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # the API loads on first use


def test_every_exported_name_resolves() -> None:
    missing = [name for name in bakeoff.__all__ if getattr(bakeoff, name, None) is None]
    assert not missing


def test_run_in_code_equals_the_cli_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(name="api", task=task, models=[str(tiny_model_dir)], **GRID)
    events: list[bakeoff.RunProgress] = []
    results = bakeoff.run(spec, tmp_path / "api", progress=events.append)

    started = [e for e in events if e.record is None]
    finished = [e for e in events if e.record is not None]
    assert [e.index for e in started] == [0, 1] and all(e.total == 2 for e in events)
    assert [e.label for e in finished] == [e.label for e in started]
    assert (tmp_path / "api" / "report.html").exists()
    assert (tmp_path / "api" / "results.json").exists()

    exp = tmp_path / "experiment.yaml"
    exp.write_text(json.dumps({"name": "api", "task": "task.yaml", **spec_models(tiny_model_dir)}))
    result = CliRunner().invoke(app, ["run", str(exp), "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    cli = bakeoff.open_results(tmp_path / "cli")
    assert [(r.label, r.metrics) for r in cli.runs] == [(r.label, r.metrics) for r in results.runs]

    frame = results.to_dataframe()
    assert list(frame["strategy"]) == [r.strategy for r in results.runs]
    assert {"accuracy", "accuracy_ci_low", "accuracy_ci_high", "adapt_seconds"} <= set(frame)
    recommendation = results.recommendation
    assert recommendation.choice in {c["name"] for c in results.candidates}
    assert "Recommendation:" in recommendation._repr_html_()
    report = results.report()
    assert "<html" in report._repr_html_().lower() and report.markdown().startswith("#")
    assert all(hasattr(fig, "savefig") for fig in report.figures().values())


def spec_models(model: Path) -> dict[str, object]:
    return {"models": [str(model)], **GRID}


def test_a_rerun_keeps_finished_runs_and_says_so(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(name="again", task=task, models=[str(tiny_model_dir)], **GRID)
    bakeoff.run(spec, tmp_path / "out")
    events: list[bakeoff.RunProgress] = []
    bakeoff.run(spec, tmp_path / "out", progress=events.append)
    assert [e.skipped for e in events] == [True, True]


def test_the_serving_app_in_code_answers_like_the_candidate(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(name="srv", task=task, models=[str(tiny_model_dir)], **GRID)
    results = bakeoff.run(spec, tmp_path / "out")
    app, served = bakeoff.serve_app(tmp_path / "out")
    assert served["following"] and served["name"] == results.recommendation.choice
    texts = ["great film", "awful film"]
    with TestClient(app) as client:
        reply = client.post("/v1/predict", json={"inputs": texts})
    assert reply.status_code == 200, reply.text
    want = [p.output for p in results.load().predict(texts)]
    assert [p["output"] for p in reply.json()["predictions"]] == want


def test_status_and_rebuild_in_code_are_what_the_cli_prints(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    task = make_task(tmp_path)
    grid = {**GRID, "train_sizes": [8, 12]}  # 1 zero-shot + 2 few-shot runs
    spec = bakeoff.new_experiment(name="st", task=task, models=[str(tiny_model_dir)], **grid)
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_after_two(event: bakeoff.RunProgress) -> None:
        if event.record is not None and event.index == 1:
            raise Stop  # interrupted: the third run is still to run

    with pytest.raises(Stop):
        bakeoff.run(spec, out, progress=stop_after_two)
    status = bakeoff.open_results(out).status()
    assert [r.state for r in status.runs] == ["done", "done", "to run"]
    assert status.integrity == "ok" and not status.unstored
    bakeoff.run(spec, out)

    (out / "bakeoff.sqlite").unlink()  # lost: the runs' folders still hold their records
    rebuilt = bakeoff.rebuild(out)
    assert rebuilt.restored == 3 and not rebuilt.unreadable
    status = bakeoff.open_results(out).status()
    assert status.done == 3
    printed = CliRunner().invoke(app, ["status", str(out)]).output
    assert "st: 3 of 3 runs done" in printed and "integrity: ok" in printed


def test_the_catalogue_and_prior_advice_in_code() -> None:
    names = {info.name for info in bakeoff.strategies()}
    assert {"zero-shot", "few-shot", "lora", "encoder-head", "prompt-search"} <= names
    assert "smollm2-135m-instruct" in {m.name for m in bakeoff.bundled_models()}
    advice = bakeoff.prior_advice(labels=30, classes=2)
    assert advice["choice"].startswith("few-shot") and "zero-shot" in advice["shortlist"]
    with pytest.raises(bakeoff.BakeoffError, match="labels"):
        bakeoff.prior_advice(labels=-1)


def test_schedules_in_code_are_what_explain_prints(tmp_path: Path, tiny_model_dir: Path) -> None:
    task = make_task(tmp_path)
    strategies = ["zero-shot", "lora", "encoder-head"]
    spec = bakeoff.new_experiment(
        name="plan", task=task, models=[str(tiny_model_dir)], strategies=strategies, **PLAN
    )
    planned = bakeoff.schedules(spec)
    assert [p.run.strategy for p in planned] == ["lora", "encoder-head"]  # trained runs only
    assert planned[0].schedule.steps >= 150  # 2 classes, few rows: the floor
    exp = tmp_path / "plan.yaml"
    exp.write_text(json.dumps(spec.model_dump(mode="json") | {"task": str(task)}))
    printed = CliRunner().invoke(app, ["run", str(exp), "--explain"]).output
    assert f"→ {planned[0].schedule.steps} steps" in printed


PLAN = {"train_sizes": [8], "wordings": [0]}


def test_load_data_splits_as_runs_do_and_names_bad_rows(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    splits = bakeoff.load_data(task)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 40
    with (tmp_path / "data.jsonl").open("a") as f:
        f.write('{"text": "x", "label": "neutral"}\n')
    with pytest.raises(bakeoff.ProblemsError) as caught:
        bakeoff.load_data(task)
    assert any(p.line == 41 for p in caught.value.problems)
    assert len(bakeoff.load_data(task, drop_invalid=True).train) > 0


def test_predict_takes_texts_records_and_dataframes(tmp_path: Path, tiny_model_dir: Path) -> None:
    import pandas

    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(name="p", task=task, models=[str(tiny_model_dir)], **GRID)
    results = bakeoff.run(spec, tmp_path / "out")
    model = results.load()  # the recommended candidate
    texts = ["great film", "awful film"]
    by_text = model.predict(texts)
    assert [p.output for p in model.predict([{"text": t} for t in texts])] == [
        p.output for p in by_text
    ]
    assert all(p.output in {"positive", "negative"} for p in by_text)
    frame = model.predict_dataframe(pandas.DataFrame({"text": texts}))
    assert list(frame["output"]) == [p.output for p in by_text]
    named = bakeoff.load_candidate(tmp_path / "out", candidate=results.candidates[-1]["name"])
    assert len(named.predict(texts)) == 2
    with pytest.raises(bakeoff.ProblemsError) as caught:
        model.predict([{"review": "no text field"}])
    assert "<inputs>:1" in str(caught.value) and "text" in str(caught.value)
    with pytest.raises(bakeoff.BakeoffError, match="not one string"):
        model.predict("great film")


def test_a_broken_task_fails_alike_in_the_api_and_the_cli(tmp_path: Path) -> None:
    make_task(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: tiny\nkind: classification\ndata: {file: data.jsonl}\n"
        "fields: {input: text, label: label}\nlabels: [positive]\nshots: 3\n"
    )
    with pytest.raises(bakeoff.BakeoffError) as caught:
        bakeoff.load_task(broken)
    result = CliRunner().invoke(app, ["validate", str(broken)])
    assert result.exit_code == 2
    message = str(caught.value)
    assert "broken.yaml" in message
    flat = " ".join(result.output.split())
    for line in message.splitlines():
        assert " ".join(line.split()) in flat  # every problem the API names, the CLI prints


def test_a_missing_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from bakeoff.models.backends import load_model

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(bakeoff.BakeoffError, match=r"pip install 'bakeoff\[llamacpp\]'"):
        load_model("llama.cpp:smollm2-135m-instruct")


def _without(dump: dict[str, Any], *paths: str) -> dict[str, Any]:
    dump = json.loads(json.dumps(dump))
    for path in paths:
        *parents, leaf = path.split(".")
        outer = dump
        for key in parents:
            outer = outer[key]
        del outer[leaf]
    return dump


@pytest.mark.parametrize(
    "missing",
    [(), ("output",), ("output", "data.max_input_chars", "data.truncate_long_inputs")],
    ids=["2026-12-01", "before-output", "before-max-input-chars"],
)
def test_a_store_fingerprinted_the_old_way_still_resumes_and_reports(
    tmp_path: Path, tiny_model_dir: Path, missing: tuple[str, ...]
) -> None:
    """Stores made before fingerprints left task defaults out (until 2026-12-01) hashed every
    TaskSpec field their release knew, so each field a release added orphaned them ("data_sha256
    changed") — a store of 2026-11-30 has no `output`, one older no `data.max_input_chars`."""
    import sqlite3

    from bakeoff.experiment.grid import Experiment, data_fingerprint

    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(name="old", task=task, models=[str(tiny_model_dir)], **GRID)
    bakeoff.run(spec, tmp_path / "out")
    grid = Experiment(spec)
    dump = _without(grid.task.model_dump(mode="json"), *missing)
    old = grid.splits.digest(json.dumps(dump, sort_keys=True))
    assert old != data_fingerprint(grid.task, grid.splits)
    db = sqlite3.connect(tmp_path / "out" / "bakeoff.sqlite")
    setup = json.loads(db.execute("SELECT value FROM meta WHERE key = 'setup'").fetchone()[0])
    db.execute(
        "UPDATE meta SET value = ? WHERE key = 'setup'",
        (json.dumps({**setup, "data_sha256": old}),),
    )
    db.commit()
    db.close()
    events: list[bakeoff.RunProgress] = []
    again = bakeoff.run(spec, tmp_path / "out", progress=events.append)
    assert [e.skipped for e in events] == [True, True]
    assert again.recommendation.choice is not None
