"""`bakeoff update` killed with SIGKILL in the middle of training a challenger, then rerun: it
resumes (the challenger from its checkpoint, the stored ones not rerun) and ends with the
decision, challengers and store an uninterrupted update of a copy of the folder ends with."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.test_cli_run import invoke, make_task
from tests.unit.test_update_dry_run import new_rows

# the lora challenger trains long enough (400 tiny steps) to be killed mid-run
GRID = """\
name: tiny-kill
task: task.yaml
models: ['{model}']
strategies:
  - {{name: few-shot, demos: random, shots: 2}}
  - {{name: lora, training: {{max_steps: 400, eval_every: 20, eval_rows: 4, batch_size: 4}}}}
train_sizes: [8]
"""


def update(folder: Path, data: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bakeoff.cli", "update", str(folder), "--data", str(data)]
    return subprocess.Popen([*command, "--json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def checkpoints(folder: Path) -> list[Path]:
    return list((folder / "runs").glob("*/checkpoint/*"))


def trained_steps(folder: Path) -> int:
    """The step of the latest checkpoint of a training challenger (0: none past the start)."""
    steps = [0]
    for loop in (folder / "runs").glob("*/checkpoint/loop.json"):
        try:
            steps.append(json.loads(loop.read_text())["step"])
        except (OSError, ValueError):  # being replaced this instant
            continue
    return max(steps)


def test_a_killed_update_resumes_and_decides_as_an_uninterrupted_one(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    make_task(tmp_path)
    (tmp_path / "experiment.yaml").write_text(GRID.format(model=tiny_model_dir))
    folder = tmp_path / "out"
    code, output = invoke("run", str(tmp_path / "experiment.yaml"), "--out", str(folder))
    assert code == 0, output
    data = new_rows(tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(folder, reference)

    proc = update(folder, data)
    deadline = time.monotonic() + 300
    while trained_steps(folder) < 20:  # a v2 challenger is training, checkpointed past step 0
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert time.monotonic() < deadline, "no challenger began training"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(folder / "bakeoff.sqlite")
    assert db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 1  # v2 was claimed
    assert db.execute("SELECT COUNT(*) FROM promotions").fetchone()[0] == 0  # not decided yet
    db.close()

    resumed = update(folder, data)
    straight = update(reference, data)  # the two run side by side: one is in each folder
    outputs = [p.communicate(timeout=600)[0].decode() for p in (resumed, straight)]
    assert resumed.returncode == 0 and straight.returncode == 0, outputs
    first, second = (json.loads(o.strip().splitlines()[-1]) for o in outputs)
    assert first["version"] == second["version"] == 2
    assert [c["key"] for c in first["challengers"]] == [c["key"] for c in second["challengers"]]
    assert first["decision"] == second["decision"]

    db = sqlite3.connect(folder / "bakeoff.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    records = [json.loads(r[0]) for r in db.execute("SELECT record FROM update_runs")]
    db.close()
    lora = next(r for r in records if r["strategy"] == "lora")
    assert lora["training"]["resumed_from_step"] > 0  # continued from the killed run's checkpoint
    assert not checkpoints(folder)  # removed once each run is stored
