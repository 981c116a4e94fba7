"""The executor's contract: a run is plain data (a RunJob) that pickles, runs in another process
and comes back as a typed RunRecord — what a process pool or a Ray task needs."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bakeoff.experiment.executor import execute
from bakeoff.experiment.grid import Experiment
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
