"""Experiment tracking: every bakeoff run as an MLflow run, the champion in the model registry.

One MLflow run per bakeoff run (tagged `bakeoff.key`, so logging again adds only new runs):
its settings as params, each metric with its CI, the cost ledger, the training curve as step
metrics, the run's artifact folder and the report attached. The recommended candidate's run
is registered (`bakeoff-NAME`, or `registered_model:`) under the alias `champion`; a promotion
by `bakeoff update` moves the alias. Optional: needs the `mlflow` extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakeoff.errors import BakeoffError, require_extra

if TYPE_CHECKING:
    from bakeoff.experiment.record import RunRecord
    from bakeoff.experiment.spec import MlflowTracking

KEY_TAG = "bakeoff.key"
ALIAS = "champion"
USAGE_METRICS = (
    "adapt_seconds",
    "predict_seconds",
    "rows_per_second",
    "latency_ms_per_row",
    "prompt_tokens_per_row",
    "output_tokens_per_row",
    "flops_per_row",
)


class MlflowLog:
    """An open MLflow tracking store for one bakeoff experiment."""

    def __init__(self, config: MlflowTracking, experiment: str):
        require_extra("mlflow", "mlflow", "tracking: mlflow")
        from mlflow import MlflowClient

        self.config = config
        self.client = MlflowClient(tracking_uri=config.uri, registry_uri=config.uri)
        name = config.experiment or experiment
        self.model_name = config.registered_model or f"bakeoff-{experiment}"
        self._logged: dict[str, str] | None = None
        found = self.client.get_experiment_by_name(name)
        self.experiment_id = (
            found.experiment_id
            if found is not None
            else self.client.create_experiment(
                name, artifact_location=_artifacts_beside(config.uri, name)
            )
        )

    def logged(self) -> dict[str, str]:
        """bakeoff run key -> MLflow run id, for runs already logged (read once, then kept up
        to date by `log_runs`)."""
        if self._logged is None:
            runs = self.client.search_runs([self.experiment_id], max_results=50000)
            tagged = [r for r in runs if KEY_TAG in r.data.tags]
            self._logged = {r.data.tags[KEY_TAG]: r.info.run_id for r in tagged}
        return self._logged

    def log_runs(self, folder: Path, records: list[RunRecord], report: dict[str, Any]) -> int:
        """Log the records not logged yet; returns how many were added."""
        done = self.logged()
        added = 0
        for record in records:
            if record.key not in done:
                done[record.key] = self._log_run(folder, record, report)
                added += 1
        return added

    def _log_run(self, folder: Path, record: RunRecord, report: dict[str, Any]) -> str:
        from mlflow.entities import Metric, Param

        tags = {KEY_TAG: record.key, "bakeoff.family": record.family, "bakeoff.kind": record.kind}
        run = self.client.create_run(self.experiment_id, run_name=record.label, tags=tags)
        run_id = run.info.run_id
        params = [Param(k, v) for k, v in _params(record).items()]
        now = 0
        metrics = [Metric(k, v, now, 0) for k, v in _metrics(record, report).items()]
        for point in (record.training or {}).get("history", []):
            for name in ("train_loss", "val_metric", "train_metric"):
                if isinstance(point.get(name), int | float):
                    metrics.append(
                        Metric(f"training.{name}", float(point[name]), now, point["step"])
                    )
        for start in range(0, len(metrics), 900):  # MLflow takes at most 1,000 per batch
            chunk = metrics[start : start + 900]
            self.client.log_batch(run_id, params=params if start == 0 else [], metrics=chunk)
        if not metrics:
            self.client.log_batch(run_id, params=params)
        artifact = folder / "runs" / record.key / "artifact"
        if artifact.is_dir():
            self.client.log_artifacts(run_id, str(artifact), "artifact")
        for name in ("report.json", "report.md", "report.html"):
            if (folder / name).exists():
                self.client.log_artifact(run_id, str(folder / name), "report")
        self.client.set_terminated(run_id)
        return run_id

    def set_champion(self, key: str) -> str:
        """Register the run with bakeoff key `key` (logged already) and point `champion` at it;
        returns the model version."""
        run_id = self.logged().get(key)
        if run_id is None:
            raise BakeoffError(f"tracking: run {key} is not in MLflow — log the runs first.")
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name)
        versions = self.client.search_model_versions(f"name = '{self.model_name}'")
        version = next((v.version for v in versions if v.run_id == run_id), None)
        if version is None:
            created = self.client.create_model_version(
                self.model_name, f"runs:/{run_id}/artifact", run_id=run_id
            )
            version = created.version
        self.client.set_registered_model_alias(self.model_name, ALIAS, str(version))
        return str(version)


def log_experiment(
    config: MlflowTracking,
    folder: Path,
    experiment: str,
    records: list[RunRecord],
    report: dict[str, Any],
) -> dict[str, Any]:
    """Log new runs; register the recommended candidate as the champion (when it has an
    artifact). Returns what was done, for the caller to print."""
    log = MlflowLog(config, experiment)
    added = log.log_runs(folder, records, report)
    champion = report.get("champion") or {}
    key = champion.get("run") or _recommended_key(report)
    version = None
    if key and (folder / "runs" / key / "artifact").is_dir():
        version = log.set_champion(key)
    return {"uri": config.uri, "added": added, "champion_run": key, "version": version}


def _recommended_key(report: dict[str, Any]) -> str | None:
    choice = report.get("recommendation", {}).get("choice")
    found = next((c for c in report.get("candidates", []) if c["name"] == choice), None)
    return found["primary"] if found else None


def _params(record: RunRecord) -> dict[str, str]:
    params = {
        "strategy": record.strategy,
        "kind": record.kind,
        "model": record.model,
        "seed": str(record.seed),
        "train_size": str(record.train_size),
        "data_version": str(record.data_version),
    }
    for name, value in record.settings.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        params[f"settings.{name}"] = text[:6000]
    return params


def _metrics(record: RunRecord, report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, metric in record.metrics.items():
        for field, suffix in (("value", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
            if isinstance(metric.get(field), int | float):
                out[f"{name}{suffix}"] = float(metric[field])
    for name in USAGE_METRICS:
        out[f"cost.{name}"] = float(getattr(record.usage, name))
    candidate = next((c for c in report.get("candidates", []) if record.key in c["runs"]), None)
    if candidate is not None:
        for name, value in candidate["cost"].items():
            if isinstance(value, int | float):
                out[f"cost.candidate.{name}"] = float(value)
    return out


def _artifacts_beside(uri: str, experiment: str) -> str | None:
    """For a SQLite store, artifacts in a folder beside the database (MLflow's default would be
    ./mlruns under whatever folder the process runs in); a server decides for itself."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///") :])
    return (database.parent / "mlartifacts" / experiment).resolve().as_uri()
