"""The Python API: what the CLI does, with the same objects (docs/python.md).

    import bakeoff
    spec = bakeoff.load_experiment("examples/sst2/experiment.yaml")
    results = bakeoff.run(spec, "runs/sst2")
    results.recommendation.choice, results.to_dataframe()
    model = results.load()                  # the recommended candidate
    model.predict(["a gripping, funny film"])

Errors are the CLI's: a `BakeoffError` whose message names file, line and field (a
`ProblemsError` lists every problem in `.problems`); the CLI prints the same text and exits 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakeoff.errors import BakeoffError

if TYPE_CHECKING:
    import pandas

    from bakeoff.evaluation.drift import DriftReport
    from bakeoff.experiment.grid import Experiment
    from bakeoff.experiment.record import RunRecord
    from bakeoff.experiment.spec import ExperimentSpec
    from bakeoff.experiment.store import RunStore
    from bakeoff.models.backends import BackendOptions
    from bakeoff.strategy import Candidate, Prediction
    from bakeoff.task.spec import TaskSpec
    from bakeoff.update.flow import UpdateResult


def load_task(path: str | Path) -> TaskSpec:
    """A task file, read and validated (`ProblemsError` lists every problem with its line)."""
    from bakeoff.task.spec import load_task as read

    return read(path)


def load_experiment(path: str | Path) -> ExperimentSpec:
    """An experiment file, read and validated; its task file is checked too."""
    from bakeoff.experiment.spec import load_experiment as read

    return read(Path(path))


def new_experiment(**fields: Any) -> ExperimentSpec:
    """An experiment built in code, with the fields of an experiment file (docs/experiments.md);
    `task` is a task file's path. Validated as a file would be."""
    from pydantic import ValidationError

    from bakeoff.config import settings_error
    from bakeoff.experiment.spec import ExperimentSpec

    raw = {**fields}
    if "task" in raw:
        raw["task"] = str(Path(raw["task"]).resolve())
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        raise settings_error(exc, "experiment", "docs/experiments.md") from None


@dataclass(frozen=True)
class RunProgress:
    """One run of the grid started (`record` None) or finished (`skipped`: done earlier)."""

    index: int  # 0-based position in the grid
    total: int
    label: str
    record: RunRecord | None = None
    skipped: bool = False
    error: str | None = None  # an attempt failed (Ray executor): retried unless `final`
    attempt: int = 0
    final: bool = False


def run(
    spec: ExperimentSpec | str | Path,
    out: str | Path | None = None,
    *,
    backend: BackendOptions | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    worker: Any = None,
) -> Results:
    """Run the grid into `out` (default runs/NAME): what the store already holds is kept, every
    finished run is stored at once; then results.json and the report are written."""
    from bakeoff.device import resolve_device
    from bakeoff.experiment.grid import Experiment

    if isinstance(spec, str | Path):
        spec = load_experiment(spec)
    folder = Path(out) if out is not None else Path("runs") / spec.name
    options = backend or spec.backend
    trust = options.trust_remote_code or spec.trust_remote_code
    resolve_device(options.device)  # a GPU asked for that is not here: say so before any run
    grid = Experiment(spec, options.model_copy(update={"trust_remote_code": trust}))
    return run_grid(grid, folder, progress=progress, worker=worker)


def run_grid(
    grid: Experiment,
    out: Path,
    *,
    progress: Callable[[RunProgress], None] | None = None,
    worker: Any = None,
) -> Results:
    """`run` for a grid already built (its data loaded)."""
    from bakeoff.experiment.executor import is_main_process

    total = len(grid.runs)
    started: dict[str, int] = {}

    def on_start(index: int, total: int, config: Any) -> None:
        started[config.key] = index
        if progress:
            progress(RunProgress(index, total, config.label))

    def on_done(record: RunRecord, skipped: bool) -> None:
        if progress:
            index = started.get(record.key, len(started))
            progress(RunProgress(index, total, record.label, record, skipped))

    def on_failure(config: Any, attempt: int, error: str, final: bool) -> None:
        if progress:
            index = started.get(config.key, len(started))
            progress(RunProgress(index, total, config.label, None, False, error, attempt, final))

    results = Results(out, grid.run(out, worker, on_start, on_done, on_failure))
    if is_main_process():
        results.write_results_json(grid)
        report = results.report()
        report.write(out)
        if grid.spec.tracking.mlflow is not None:
            from bakeoff.tracking import log_experiment

            results.tracking = log_experiment(
                grid.spec.tracking.mlflow, out, grid.spec.name, results.runs, report.data
            )
    return results


def open_results(folder: str | Path) -> Results:
    """A finished (or interrupted) run folder, read-only."""
    from bakeoff.experiment.store import RunStore

    return Results(Path(folder), RunStore.open_existing(Path(folder)))


@dataclass
class Recommendation:
    choice: str | None
    confidence: str
    reasons: list[str]
    findings: list[dict[str, Any]]
    next_steps: list[str]
    data: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_report(cls, rec: Mapping[str, Any]) -> Recommendation:
        return cls(
            rec.get("choice"),
            str(rec.get("confidence", "")),
            list(rec.get("reasons", [])),
            list(rec.get("findings", [])),
            list(rec.get("next_steps", [])),
            dict(rec),
        )

    def _repr_html_(self) -> str:
        from html import escape

        items = "".join(f"<li>{escape(r)}</li>" for r in self.reasons)
        items += "".join(
            f"<li><b>{escape(f['rule'])}</b>: {escape(f['message'])}</li>" for f in self.findings
        )
        return (
            f"<div><b>Recommendation:</b> {escape(str(self.choice))} "
            f"(confidence {escape(self.confidence)})<ul>{items}</ul></div>"
        )


@dataclass
class Report:
    """The report's data (report.json's content) and its renderings."""

    data: dict[str, Any]

    @property
    def recommendation(self) -> Recommendation:
        return Recommendation.from_report(self.data["recommendation"])

    def html(self) -> str:
        from bakeoff.report.render import render_html

        return render_html(self.data)

    def markdown(self) -> str:
        from bakeoff.report.render import render_markdown

        return render_markdown(self.data)

    def write(self, folder: str | Path) -> dict[str, Path]:
        """report.html, report.md and report.json (and figures) into `folder`."""
        from bakeoff.report.render import write_report

        return write_report(self.data, Path(folder))

    def figures(self) -> dict[str, Any]:
        """The report's charts as matplotlib figures, by id (`learning-curves`, …)."""
        from bakeoff.report.plots import all_figures

        return {name: fig for name, _, fig in all_figures(self.data)}

    def _repr_html_(self) -> str:
        return self.html()


class Results:
    """A run folder: its runs (typed records), candidates, recommendation and report."""

    def __init__(self, folder: Path, store: RunStore):
        self.folder = folder
        self.store = store
        self._report: Report | None = None  # built once, on first use
        self.tracking: dict[str, Any] | None = None  # what `run` logged to MLflow, if asked

    def __repr__(self) -> str:
        return f"Results({str(self.folder)!r}, {self.store.count()} runs)"

    @property
    def runs(self) -> list[RunRecord]:
        return self.store.runs()

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Every failed attempt (Ray executor): key, attempt, label, error, recovered."""
        return self.store.failures()

    def integrity(self) -> str:
        """SQLite's integrity check of the store: "ok" when sound (`bakeoff status`)."""
        return self.store.integrity()

    def status(self) -> Status:
        """Each planned run's state (done, to run, failed with its last error), the store's
        integrity, and finished runs whose record is in their folder but not in the store
        (`bakeoff rebuild` restores them) — `bakeoff status`."""
        from bakeoff.experiment.grid import Experiment
        from bakeoff.experiment.spec import ExperimentSpec
        from bakeoff.experiment.store import RECORD_NAME

        experiment = Experiment(ExperimentSpec.model_validate(self.store.experiment()))
        done = self.store.done_keys()
        failed = {f["key"]: f for f in self.store.failures() if not f["recovered"]}
        runs = []
        for run in experiment.runs:
            last = failed.get(run.key) if run.key not in done else None
            state = "done" if run.key in done else "failed" if last else "to run"
            error = (last["attempt"], last["error"]) if last else (None, None)
            runs.append(RunState(run.key, run.label, run.model, state, *error))
        saved = {p.parent.name for p in (self.folder / "runs").glob(f"*/{RECORD_NAME}")}
        unstored = saved - done - {r.key for r in self.store.update_runs()}  # update's own runs
        return Status(experiment.spec.name, runs, self.integrity(), sorted(unstored))

    def report(self, constraints: Mapping[str, Any] | None = None) -> Report:
        """The report (with other `constraints` than the experiment's: the advice for them)."""
        from bakeoff.report.build import build_report

        if constraints:
            return Report(build_report(self.store, dict(constraints)))
        if self._report is None:
            self._report = Report(build_report(self.store))
        return self._report

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """Ranked candidates (name, model, mean, CI, cost …), as in the report."""
        return list(self.report().data["candidates"])

    @property
    def recommendation(self) -> Recommendation:
        return self.report().recommendation

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per run: what it was, each metric with its CI, and what it cost."""
        import pandas

        rows = []
        for r in self.runs:
            row: dict[str, Any] = {
                "key": r.key,
                "label": r.label,
                "family": r.family,
                "strategy": r.strategy,
                "kind": r.kind,
                "model": r.model,
                "seed": r.seed,
                "train_size": r.train_size,
                "wording": r.wording,
                "data_version": r.data_version,
            }
            for name, metric in r.metrics.items():
                row[name] = metric.get("value")
                row[f"{name}_ci_low"] = metric.get("ci_low")
                row[f"{name}_ci_high"] = metric.get("ci_high")
            usage = r.usage
            row.update(
                adapt_seconds=usage.adapt_seconds,
                rows_per_second=usage.rows_per_second,
                latency_ms_per_row=usage.latency_ms_per_row,
                prompt_tokens_per_row=usage.prompt_tokens_per_row,
                flops_per_row=usage.flops_per_row,
            )
            rows.append(row)
        return pandas.DataFrame(rows)

    def load(
        self, candidate: str | None = None, *, allow_remote: bool = False, device: str = "auto"
    ) -> Predictor:
        """The recommended candidate (or the one named), rebuilt from its artifact on `device`
        (auto: a GPU when there is one; cpu; cuda[:N])."""
        from bakeoff.serve.source import resolve

        artifact = resolve(self.folder, candidate).artifact
        return load_candidate(artifact, allow_remote=allow_remote, device=device)

    def write_results_json(self, grid: Any) -> None:
        """Every run's record in one JSON file (the store stays the source of truth)."""
        from bakeoff.atomic import write_json_atomic

        data = {
            "setup": self.store.meta("setup"),
            "data": grid.splits.summary(),
            "runs": [r.to_json() for r in self.store.runs()],
            "failures": self.store.failures(),  # every failed attempt (Ray executor)
        }
        write_json_atomic(self.folder / "results.json", data)


@dataclass(frozen=True)
class RunState:
    key: str
    label: str
    model: str
    state: str  # done, to run, failed (every attempt)
    attempt: int | None = None  # the failed run's last attempt
    error: str | None = None  # and its error


@dataclass(frozen=True)
class Status:
    experiment: str
    runs: list[RunState]
    integrity: str  # SQLite's check: "ok" when sound
    unstored: list[str]  # run keys with a record in their folder but not in the store

    @property
    def done(self) -> int:
        return sum(r.state == "done" for r in self.runs)


Inputs = Sequence[str] | Sequence[Mapping[str, Any]] | Any  # texts, records or a DataFrame


class Predictor:
    """A saved candidate, rebuilt: `predict` takes texts, records (the task's input fields) or
    a DataFrame, checked as `bakeoff predict` checks an input file."""

    def __init__(self, task: TaskSpec, candidate: Candidate, artifact: Path):
        self.task = task
        self.candidate = candidate
        self.artifact = artifact

    def __repr__(self) -> str:
        return f"Predictor({str(self.artifact)!r}, task={self.task.name!r})"

    def predict(self, inputs: Inputs) -> list[Prediction]:
        from bakeoff.task.load import RawRow, ReadResult
        from bakeoff.task.validate import input_examples

        records = list(_records(inputs, self.task))
        rows = [RawRow("<inputs>", i, record) for i, record in enumerate(records, start=1)]
        examples = input_examples(ReadResult(rows, []), self.task)
        return self.candidate.predict(examples)

    def predict_file(self, path: str | Path) -> list[Prediction]:
        """Rows of a JSONL or CSV file (problems named by file and line), as `bakeoff predict`."""
        from bakeoff.task.load import read_rows
        from bakeoff.task.validate import input_examples

        return self.candidate.predict(input_examples(read_rows(Path(path)), self.task))

    def predict_dataframe(self, frame: Any) -> pandas.DataFrame:
        """`frame` with `output` (and, for label scoring, `probabilities`) added."""
        predictions = self.predict(frame)
        out = frame.copy()
        out["output"] = [p.output for p in predictions]
        out["probabilities"] = [p.probabilities for p in predictions]
        return out


def _records(inputs: Inputs, task: TaskSpec) -> Iterable[dict[str, Any]]:
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a pandas DataFrame
        yield from inputs.to_dict(orient="records")
        return
    if isinstance(inputs, str):
        raise BakeoffError("predict: give a list of texts, not one string (wrap it: [text]).")
    for item in inputs:
        if isinstance(item, str):
            if task.fields.input is None:
                raise BakeoffError(
                    f"predict: task '{task.name}' builds its input from several fields "
                    f"({task.fields.input_template!r}) — give records (dicts) with those fields."
                )
            yield {task.fields.input: item}
        elif isinstance(item, Mapping):
            yield dict(item)
        else:
            raise BakeoffError(
                f"predict: an input is a {type(item).__name__}; give texts, dicts or a DataFrame."
            )


def drift(task: str | Path, data: str | Path, *, permutations: int = 199) -> DriftReport:
    """How far the rows of `data` have moved from all rows of `task` (`bakeoff drift`): its
    `.verdict` (none / some / strong), `.reasons`, and each test with its p-value."""
    from bakeoff.update.new_rows import drift_of

    return drift_of(load_task(task), Path(data), permutations)


def run_update(
    folder: str | Path,
    data: str | Path | None = None,
    *,
    task: str | Path | None = None,
    dry_run: bool = False,
    challengers: int = 2,
    window: int | None = None,
    margin: float | None = None,
    permutations: int = 199,
    warm_start: bool = False,
    extend_labels: bool = False,
    worker: Any = None,
) -> UpdateResult:
    """`bakeoff update`: new rows (`data`, or the data of another `task` file) become a data
    version of the run folder; drift is measured and the champion re-checked, and unless
    `dry_run` challengers are re-adapted and promoted only by the rule (docs/maintenance.md).
    Resumable: the same call again continues, or returns the decision already made."""
    from bakeoff.update.flow import Update, UpdateOptions
    from bakeoff.update.new_rows import update_rows

    root = Path(folder)
    given = (Path(data) if data is not None else None, Path(task) if task is not None else None)
    rows, source, added = update_rows(root, *given, extend_labels)
    options = UpdateOptions(dry_run, challengers, window, margin, permutations, warm_start)
    return Update(root, rows, source, added).run(options, worker)


def load_candidate(
    path: str | Path,
    candidate: str | None = None,
    *,
    allow_remote: bool = False,
    device: str = "auto",
) -> Predictor:
    """A candidate from an artifact folder, or from a run folder (its recommended candidate,
    or the one named by `candidate`), on `device` (auto: a GPU when there is one; cpu;
    cuda[:N])."""
    from bakeoff.serve.source import resolve
    from bakeoff.strategy_registry import load_candidate as rebuild

    folder = Path(path)
    if not (folder / "manifest.json").exists():
        folder = resolve(folder, candidate).artifact
    task, model = rebuild(folder, allow_remote, device)
    return Predictor(task, model, folder)
