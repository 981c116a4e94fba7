"""MLflow tracking against a real local MLflow store (SQLite in a temp folder), read back with
MLflow's own client: one MLflow run per bakeoff run, params, metrics with CIs, costs, the
artifact and report attached, the champion registered under the alias `champion`, and the
alias moved by a promotion."""

from __future__ import annotations

from pathlib import Path

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


def test_every_run_is_logged_and_the_champion_registered(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    task = make_task(tmp_path)
    spec = bakeoff.new_experiment(
        name="tracked",
        task=task,
        models=[str(tiny_model_dir)],
        tracking={"mlflow": {"uri": uri}},
        **GRID,
    )
    results = bakeoff.run(spec, tmp_path / "out")
    assert results.tracking is not None and results.tracking["added"] == 2

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    by_key = {r.data.tags["bakeoff.key"]: r for r in runs}
    assert set(by_key) == {r.key for r in results.runs}
    for record in results.runs:
        logged = by_key[record.key]
        assert logged.info.run_name == record.label
        assert logged.data.params["strategy"] == record.strategy
        accuracy = record.metrics["accuracy"]
        assert logged.data.metrics["accuracy"] == pytest.approx(accuracy["value"])
        assert logged.data.metrics["accuracy.ci_low"] == pytest.approx(accuracy["ci_low"])
        assert "cost.latency_ms_per_row" in logged.data.metrics
        assert "cost.candidate.per_request_usd" in logged.data.metrics
        files = {f.path for f in client.list_artifacts(logged.info.run_id, "artifact")}
        assert "artifact/manifest.json" in files
        report = {f.path for f in client.list_artifacts(logged.info.run_id, "report")}
        assert {"report/report.json", "report/report.html"} <= report
    assert str(tmp_path) in experiment.artifact_location  # beside the database, not ./mlruns

    champion = client.get_model_version_by_alias("bakeoff-tracked", "champion")
    chosen = results.recommendation.choice
    primary = next(c["primary"] for c in results.candidates if c["name"] == chosen)
    assert champion.run_id == by_key[primary].info.run_id

    again = bakeoff.run(spec, tmp_path / "out")  # nothing new: nothing logged twice
    assert again.tracking is not None and again.tracking["added"] == 0
    assert len(client.search_runs([experiment.experiment_id])) == 2

    from bakeoff.tracking import MlflowLog

    other = next(r.key for r in results.runs if r.key != primary)
    version = MlflowLog(spec.tracking.mlflow, "tracked").set_champion(other)  # what update does
    moved = client.get_model_version_by_alias("bakeoff-tracked", "champion")
    assert str(moved.version) == version and moved.run_id == by_key[other].info.run_id


def test_the_cli_flag_logs_a_task_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    task = make_task(tmp_path)
    args = [
        "run",
        "--task",
        str(task),
        "--out",
        str(tmp_path / "o"),
        "--model",
        str(tiny_model_dir),
    ]
    result = CliRunner().invoke(
        app, [*args, "--strategy", "zero-shot", "--wordings", "0", "--mlflow", uri]
    )
    assert result.exit_code == 0, result.output
    assert "mlflow: 1 run(s) logged" in result.output
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    assert len(client.search_runs([experiment.experiment_id])) == 1
