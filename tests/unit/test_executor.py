"""The executor's contract: a run is plain data (a RunJob) that pickles, runs in another process
and comes back as a typed RunRecord — what a process pool or a Ray task needs."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bakeoff.experiment.executor import execute
from bakeoff.experiment.grid import Experiment, plan_runs
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.spec import load_experiment
from tests.unit.test_experiment_cli import write_experiment


def test_a_run_job_pickles_and_runs_in_a_fresh_process(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    body = "strategies: [{name: few-shot, demos: random, shots: 2}]\ntrain_sizes: [8]\n"
    experiment = Experiment(load_experiment(write_experiment(tmp_path, tiny_model_dir, body)))
    (run,) = experiment.runs
    job = experiment.job(run, tmp_path / "out")
    assert pickle.loads(pickle.dumps(job)) == job

    spawn = multiprocessing.get_context("spawn")  # nothing inherited: only the pickled job
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        remote = pool.submit(execute, job).result()
    local = execute(pickle.loads(pickle.dumps(job)))

    assert isinstance(remote, RunRecord) and remote.key == run.key and remote.kind == "prompt"
    assert remote.train_size == 8 and remote.model == str(tiny_model_dir)
    assert [p["output"] for p in remote.predictions] == [p["output"] for p in local.predictions]
    assert remote.metrics == local.metrics
    assert RunRecord.from_json(remote.to_json()) == remote  # the store's JSON round trip


def test_a_runs_ray_request_comes_from_its_kind_and_model(tmp_path: Path) -> None:
    """No Ray here: the request of each run, and the user's overrides."""
    from bakeoff.experiment.ray_executor import task_options
    from bakeoff.experiment.spec import ExecutorSpec

    body = (
        "strategies: [zero-shot, lora]\ntrain_sizes: [8]\n"
        "models: [tiny, 'openai:m@http://127.0.0.1:9/v1']\n"
    )
    path = write_experiment(tmp_path, Path("tiny"), body)
    text = path.read_text().replace("models: ['tiny']\n", "", 1)
    path.write_text(text)
    runs = plan_runs(load_experiment(path), [8])  # the plan only: no model or data needed
    jobs = {(r.strategy, r.model.split(":")[0]): r for r in runs}

    def request(strategy: str, model: str, spec: ExecutorSpec) -> dict:  # type: ignore[type-arg]
        job = type("Job", (), {"run": jobs[(strategy, model)]})()
        return task_options(job, spec)  # type: ignore[arg-type]

    default = ExecutorSpec(kind="ray")
    assert request("zero-shot", "tiny", default)["num_cpus"] == 1
    assert request("lora", "tiny", default)["num_cpus"] == 2
    assert request("zero-shot", "openai", default)["num_cpus"] == 0.25  # served elsewhere
    assert request("lora", "tiny", default)["num_gpus"] == 0  # the backends run on CPUs
    assert request("lora", "tiny", default)["max_retries"] == 0  # the driver retries, counting
    mine = ExecutorSpec.model_validate(
        {"kind": "ray", "resources": {"trained": {"num_cpus": 8, "num_gpus": 1, "memory_gb": 2}}}
    )
    assert request("lora", "tiny", mine) == {
        "num_cpus": 8,
        "num_gpus": 1,
        "max_retries": 0,
        "memory": 2 * 2**30,
    }


def test_failed_attempts_are_stored_and_a_later_success_recovers_them(tmp_path: Path) -> None:
    from bakeoff.experiment.store import RunStore

    store = RunStore(tmp_path / "bakeoff.sqlite")
    store.add_failure("k1", "lora n=8", 1, "WorkerCrashedError: the worker died")
    store.add_failure("k1", "lora n=8", 2, "ValueError: bad")
    failures = store.failures()
    assert [(f["attempt"], f["recovered"]) for f in failures] == [(1, False), (2, False)]
    assert store.done_keys() == set()  # a failed run is not done: a rerun tries it again
