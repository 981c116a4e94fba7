"""Runs as Ray tasks: the same `execute(job)` as the local executor, on a Ray cluster's workers.

Each run is one task whose request (CPUs, memory) comes from its kind (prompt or trained) and
its model (a model served elsewhere needs little CPU); `executor.resources` overrides it, GPUs
included (the backends run on CPUs for now: no GPU is asked for unless you do).
A worker process keeps its loaded model between tasks (one `Worker` per process), so runs on
one model load it once per worker, not once per run. The driver collects records as they
finish, in any order, and is the only writer of the store. A task that raises, or whose
worker dies (killed, out of memory), is submitted again up to `max_retries` times (a
BakeoffError — bad data or settings, a model that does not load — is not retried); every
failed attempt is stored with its error, and a run that never succeeds stays not-done, so
the next `bakeoff run` tries it again.

Without `address`, a Ray instance is started on this machine for the run's duration, every
port bound to 127.0.0.1 (Ray's single-machine mode: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bakeoff.errors import BakeoffError, require_extra
from bakeoff.experiment.executor import RunJob, Worker, execute
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.spec import ExecutorSpec, RunResources
from bakeoff.models.backends import split_name

# a Ray instance started here: every port on 127.0.0.1 (read when `ray` is imported), and its
# workers at normal priority, as the local executor's runs (Ray's default niceness is 15)
LOCAL_INSTANCE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_worker_niceness": "0"}
TRAIN_CPUS, PROMPT_CPUS, REMOTE_MODEL_CPUS = 2.0, 1.0, 0.25
ERROR_CHARS = 2000  # of a failure's text kept in the store

_worker: Worker | None = None  # one per Ray worker process: keeps its model between tasks


def execute_on_worker(job: RunJob) -> RunRecord:
    """The Ray task: `execute` with this process's Worker, on the CPUs Ray assigned it."""
    global _worker
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if cpus:
        torch.set_num_threads(max(1, int(cpus)))
    if _worker is None:
        _worker = Worker()
    return execute(job, _worker)


@dataclass(frozen=True)
class Outcome:
    """A run's record, or one failed attempt's error (`final`: no attempt is left)."""

    job: RunJob
    attempt: int
    record: RunRecord | None = None
    error: str | None = None
    final: bool = False


def task_options(job: RunJob, spec: ExecutorSpec) -> dict[str, Any]:
    """The Ray request of one run: its kind's resources, filled in from the run and model."""
    trained = job.run.resolved.kind == "trained"
    given: RunResources = spec.resources.trained if trained else spec.resources.prompt
    backend, _ = split_name(job.run.model)
    cpus = given.num_cpus
    if cpus is None:
        served_elsewhere = backend == "openai" and not trained
        cpus = REMOTE_MODEL_CPUS if served_elsewhere else TRAIN_CPUS if trained else PROMPT_CPUS
    # the backends run on CPUs for now: a GPU only when asked for (`resources`)
    gpus = given.num_gpus or 0.0
    options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": 0}
    if given.memory_gb is not None:
        options["memory"] = int(given.memory_gb * 2**30)
    return options


def _connect(spec: ExecutorSpec) -> tuple[Any, bool]:
    """`ray`, connected; True when this call started the instance (and must stop it)."""
    require_extra("ray", "ray", "executor: {kind: ray}")
    if spec.address is None:
        os.environ.update(LOCAL_INSTANCE)
    import ray

    if ray.is_initialized():
        return ray, False
    if spec.address is not None:
        try:
            ray.init(address=spec.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BakeoffError(
                f"executor.address {spec.address}: cannot connect to a Ray cluster there "
                f"({exc}) — start one (`ray start --head`), or leave `address` unset to start "
                "one on this machine; a cluster with token authentication needs RAY_AUTH_TOKEN"
            ) from None
        return ray, False
    if not ray_can_stay_on_loopback(ray):
        raise BakeoffError(
            "executor: {kind: ray}: Ray was imported before bakeoff could keep it on 127.0.0.1 "
            "— set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the environment, or give `address`"
        )
    try:
        ray.init(num_cpus=spec.num_cpus, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        raise BakeoffError(
            f"executor: {{kind: ray}}: could not start Ray on this machine ({exc}) — see "
            "/tmp/ray/session_latest/logs, or give `address` of a running cluster"
        ) from None
    return ray, True


def ray_can_stay_on_loopback(ray: Any) -> bool:
    from ray._private import ray_constants

    return not ray_constants.ENABLE_RAY_CLUSTER


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def run_on_ray(
    spec: ExecutorSpec, jobs: list[RunJob], on_submit: Callable[[RunJob], None]
) -> Iterator[Outcome]:
    """Submit every job, then yield outcomes as they come (records in any order)."""
    ray, started = _connect(spec)
    try:
        remote = ray.remote(execute_on_worker)
        pending: dict[Any, tuple[RunJob, int]] = {}

        def submit(job: RunJob, attempt: int) -> None:
            ref = remote.options(**task_options(job, spec)).remote(job)
            pending[ref] = (job, attempt)

        for job in jobs:
            on_submit(job)
            submit(job, 1)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, attempt = pending.pop(ref)
            try:
                yield Outcome(job, attempt, record=ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc  # a task's own exception, unwrapped
                # a BakeoffError (bad data, settings, a missing model) fails the same way again
                final = attempt > spec.max_retries or isinstance(cause, BakeoffError)
                yield Outcome(job, attempt, error=_describe(cause), final=final)
                if not final:
                    submit(job, attempt + 1)
    finally:
        if started:
            ray.shutdown()
