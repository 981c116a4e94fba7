"""Stores that survive moves and damage: a moved folder resumes, a damaged store says so and
`bakeoff rebuild` restores it from the runs' folders; plus the CLI's bug boundary, stale
temporary folders, divergence warnings and load-independent timing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.cli_errors import user_errors
from bakeoff.cost.clock import timed
from bakeoff.finetuning.trainer import divergence_warning
from bakeoff.models.converted import TEMP_PREFIX, sweep_stale_temps
from tests.unit.test_cli_run import make_task


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def make_experiment(folder: Path, model: Path) -> Path:
    make_task(folder)
    path = folder / "experiment.yaml"
    path.write_text(
        f"name: moved\ntask: task.yaml\nmodels: ['{model}']\n"
        "strategies: [zero-shot, {name: few-shot, shots: 2}]\nwordings: [0]\n"
    )
    return path


def test_a_moved_folder_resumes_and_reports(tmp_path: Path, tiny_model_dir: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    experiment = make_experiment(first, tiny_model_dir)
    code, output = invoke("run", str(experiment), "--out", str(first / "out"))
    assert code == 0, output
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(first, moved)  # task, data and outputs together, as a user copies a project
    code, output = invoke("run", str(moved / "experiment.yaml"), "--out", str(moved / "out"))
    assert code == 0, output
    assert output.count("already done") == 2 and "data_sha256" not in output
    code, output = invoke("status", str(moved / "out"))  # finds the task at its new place
    assert code == 0 and "2 of 2 runs done" in output, output
    code, output = invoke("report", str(moved / "out"))
    assert code == 0, output


def test_a_damaged_store_is_diagnosed_and_rebuilt(tmp_path: Path, tiny_model_dir: Path) -> None:
    experiment = make_experiment(tmp_path, tiny_model_dir)
    out = tmp_path / "out"
    code, output = invoke("run", str(experiment), "--out", str(out))
    assert code == 0, output
    before = (out / "report.json").read_text()
    for leftover in out.glob("bakeoff.sqlite-*"):
        leftover.unlink()
    (out / "bakeoff.sqlite").write_bytes(b"\x00garbage" * 512)  # a disk error, a bad copy

    code, output = invoke("status", str(out))
    assert code == 2 and "damaged" in output and f"bakeoff rebuild {out}" in output, output
    code, output = invoke("rebuild", str(out))
    assert code == 0 and "2 run(s) restored" in output, output
    assert list(out.glob("bakeoff.sqlite.damaged-*"))  # the damaged file is kept aside
    code, output = invoke("status", str(out))
    assert code == 0 and "2 of 2 runs done" in output and "integrity: ok" in output, output
    code, output = invoke("report", str(out))
    assert code == 0, output
    assert (out / "report.json").read_text() == before  # nothing lost

    (out / "bakeoff.sqlite").unlink()  # a lost store: records come back only by `rebuild`
    code, output = invoke("run", str(experiment), "--out", str(out), "--quiet")
    assert code == 0, output  # reruns what the store lacks (no record is trusted blindly)


def test_status_points_at_records_missing_from_the_store(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    experiment = make_experiment(tmp_path, tiny_model_dir)
    out = tmp_path / "out"
    assert invoke("run", str(experiment), "--out", str(out))[0] == 0
    import sqlite3

    with sqlite3.connect(out / "bakeoff.sqlite") as conn:
        conn.execute("DELETE FROM runs")
    code, output = invoke("status", str(out))
    assert code == 0 and "2 finished run(s) have a record" in output and "rebuild" in output


def test_an_unexpected_error_is_a_short_message_and_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAKEOFF_LOG_DIR", str(tmp_path / "logs"))
    with pytest.raises(typer.Exit) as exit_info, user_errors():
        raise RuntimeError("a bug of ours")
    assert exit_info.value.exit_code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unexpected RuntimeError: a bug of ours" in err and "Traceback" not in err
    logs = list((tmp_path / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    assert "Traceback" in logs[0].read_text() and "a bug of ours" in logs[0].read_text()


def test_os_errors_name_the_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(typer.Exit), user_errors():
        (tmp_path / "missing" / "x").read_text()
    err = " ".join(capsys.readouterr().err.split())
    assert f"{tmp_path / 'missing' / 'x'}: No such file or directory — check the path." in err


def test_stale_temporary_folders_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"{TEMP_PREFIX}{dead.stdout.strip()}-abc"
    live = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-def"  # a conversion still under way
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x" * 1000)
    assert sweep_stale_temps(tmp_path) == [stale]
    assert not stale.exists() and live.exists()


def test_divergence_is_warned_after_three_rises() -> None:
    def history(losses: list[float]) -> list[dict[str, float]]:
        return [{"step": 10.0 * (i + 1), "train_loss": v} for i, v in enumerate(losses)]

    assert divergence_warning(history([0.7, 0.6, 0.65, 0.62])) is None  # noise
    assert divergence_warning(history([0.7, 0.8, 1.2])) is None  # two rises only
    warning = divergence_warning(history([0.69, 0.78, 1.19, 8.9]))
    assert warning is not None and "rose 3 evaluations in a row" in warning and "--lr" in warning
    nan = divergence_warning(history([0.7, float("nan")]))
    assert nan is not None and "diverged" in nan


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def test_contention_is_measured_not_guessed() -> None:
    """Busy processes on every core while this one computes: the timing sees the others' share
    and says the run was contended (the machine's own counters, not a timing assertion)."""
    hogs = [
        subprocess.Popen(
            [sys.executable, "-c", "import time\nend=time.time()+6\nwhile time.time()<end: pass"]
        )
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.5)  # let them start
        with timed() as loaded:
            _busy(1.5)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert loaded.others_share is not None and loaded.contended, loaded
    seconds, method = loaded.quiet_seconds()
    assert "contended" in method and seconds <= loaded.wall_seconds
