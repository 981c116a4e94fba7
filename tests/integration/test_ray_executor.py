"""The Ray executor on a real Ray instance started on 127.0.0.1 with 2 CPUs (and stopped after):
the same store rows as the local executor, and a worker killed mid-run is retried to a
complete store whose integrity holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before any import of ray: loopback only

from bakeoff.experiment.store import RunStore
from tests.unit.test_cli_run import invoke, make_task

BAKEOFF = str(Path(sys.executable).parent / "bakeoff")
RAY_TASK = "execute_on_worker"  # a Ray worker's process title while it runs a task


def experiment(folder: Path, model: Path, strategies: str) -> Path:
    task = make_task(folder)
    path = folder / "experiment.yaml"
    path.write_text(
        f"name: ray-check\ntask: {task}\nmodels: [{model}]\nstrategies: {strategies}\n"
        "train_sizes: [12]\nseeds: [0, 1]\nwordings: [0]\n"
        "training: {max_steps: 12, eval_every: 4, eval_rows: 8}\n"
        "backend: {precision: fp32}\n"
        "executor: {num_cpus: 2, max_retries: 2}\n"
    )
    return path


def rows(folder: Path) -> dict[str, tuple[str, dict[str, float], list[str]]]:
    store = RunStore.open_existing(folder)
    return {
        r.key: (
            r.label,
            {name: round(m["value"], 9) for name, m in r.metrics.items()},
            [p["output"] for p in r.predictions],
        )
        for r in store.runs()
    }


def test_a_ray_run_stores_what_a_local_run_stores(tmp_path: Path, tiny_model_dir: Path) -> None:
    strategies = "[zero-shot, {name: few-shot, demos: random, shots: 2}, lora]"
    path = experiment(tmp_path, tiny_model_dir, strategies)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    code, output = invoke("run", str(path), "--out", str(local), "--quiet")
    assert code == 0, output
    code, output = invoke("run", str(path), "--out", str(on_ray), "--executor", "ray", "--quiet")
    assert code == 0, output
    expected = rows(local)
    assert len(expected) == 5  # zero-shot once (no train axis), few-shot and lora per seed
    assert rows(on_ray) == expected
    assert figures(on_ray) == figures(local)  # the report's candidates and accuracies


def figures(folder: Path) -> list[tuple[str, float, float, float]]:
    """The report's ranked candidates with their metric and CI (timings differ run to run)."""
    report = json.loads((folder / "report.json").read_text())
    return [(c["name"], c["mean"], c["ci_low"], c["ci_high"]) for c in report["candidates"]]


def test_a_worker_killed_mid_run_is_retried_to_a_complete_store(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import psutil

    path = experiment(tmp_path, tiny_model_dir, "[lora]")
    out = tmp_path / "out"
    driver = subprocess.Popen(
        [BAKEOFF, "run", str(path), "--out", str(out), "--executor", "ray", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        for process in psutil.Process(driver.pid).children(recursive=True):
            try:
                if RAY_TASK in " ".join(process.cmdline()):
                    process.send_signal(signal.SIGKILL)
                    killed = process.pid
                    break
            except psutil.Error:
                continue
        time.sleep(0.05)
    output, _ = driver.communicate(timeout=600)
    assert killed is not None, "no Ray worker was seen running a run: " + output
    assert driver.returncode == 0, output
    assert "attempt 1 failed" in output and "retrying" in output
    store = RunStore.open_existing(out)
    assert len(store.runs()) == 2 and store.integrity() == "ok"
    failures = store.failures()
    assert failures and all(f["recovered"] for f in failures)
    assert "died" in failures[0]["error"].lower() or "crash" in failures[0]["error"].lower()
    code, status = invoke("status", str(out))
    assert code == 0 and "integrity: ok" in status


def test_a_run_that_keeps_failing_is_stored_as_failed_and_retried_by_a_rerun(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """One model of two cannot load: its run fails (a BakeoffError: not retried), is stored as
    failed with its error (report, status, results.json), and the other model's run is
    complete."""
    path = experiment(tmp_path, tiny_model_dir, "[zero-shot]")
    text = path.read_text().replace(
        f"models: [{tiny_model_dir}]", f"models: [{tiny_model_dir}, {tmp_path / 'no-such-model'}]"
    )
    path.write_text(text)
    out = tmp_path / "out"
    code, output = invoke("run", str(path), "--out", str(out), "--executor", "ray", "--quiet")
    assert code == 0, output
    store = RunStore.open_existing(out)
    assert [r.model for r in store.runs()] == [str(tiny_model_dir)]
    failures = store.failures()
    # a model that does not load fails the same way again: not retried
    assert [f["attempt"] for f in failures] == [1] and not failures[-1]["recovered"]
    assert "no-such-model" in failures[-1]["error"]
    assert "1 run(s) failed" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["failures"] == failures
    code, status = invoke("status", str(out))
    assert code == 0 and "failed" in status and "attempt 1" in status
