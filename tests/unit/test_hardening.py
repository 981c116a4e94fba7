"""Hostile inputs end in one clear message (exit 2, no traceback) that names what to change:
names used as paths, YAML bombs, special files, pickles, keys in URLs, remote endpoints in
downloaded artifacts. Each case: its input and the exact words the message must hold."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.unit.test_cli_run import make_task

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


EXPERIMENTS = [
    ("name: ../../x\ntask: task.yaml\nstrategies: [zero-shot]\n", "experiment.yaml:1", "name"),
    ("name: /etc/x\ntask: task.yaml\nstrategies: [zero-shot]\n", "experiment.yaml:1", "pattern"),
    ("name: ok\ntask: task.yaml\nstrategies: [zero-shot]\n" + BOMB, "experiment.yaml:", "aliases"),
    (
        "name: ok\ntask: task.yaml\nmodels: ['openai:m@http://user:sk-secret@api.example/v1']\n"
        "strategies: [zero-shot]\n",
        "experiment.yaml:3",
        "credentials in its URL",
    ),
]


@pytest.mark.parametrize(("body", "where", "message"), EXPERIMENTS)
def test_hostile_experiment_files(tmp_path: Path, body: str, where: str, message: str) -> None:
    make_task(tmp_path)
    (tmp_path / "experiment.yaml").write_text(body)
    code, output = invoke("run", str(tmp_path / "experiment.yaml"), "--out", str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in output, output
    assert where in output and message in output, output
    assert "sk-secret" not in output
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_a_key_in_a_model_url_is_refused_and_never_echoed(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    url = "openai:m@http://u:sk-secret@127.0.0.1:9/v1"
    code, output = invoke("run", "--task", str(task), "--model", url, "--out", str(tmp_path / "o"))
    assert code == 2 and "credentials in its URL" in output and "sk-secret" not in output


def test_special_files_are_refused_not_read(tmp_path: Path) -> None:
    make_task(tmp_path)
    (tmp_path / "data.jsonl").unlink()
    os.symlink("/dev/zero", tmp_path / "data.jsonl")  # would read until memory runs out
    code, output = invoke("validate", str(tmp_path / "task.yaml"))
    assert code == 2 and "not a regular file" in output
    (tmp_path / "data.jsonl").unlink()
    os.mkfifo(tmp_path / "data.jsonl")  # would hang
    code, output = invoke("validate", str(tmp_path / "task.yaml"))
    assert code == 2 and "not a regular file" in output
    code, output = invoke("validate", str(tmp_path))  # a folder as the task file
    assert code == 2 and "not a regular file" in output


def _prompt_artifact(tmp_path: Path, tiny_model_dir: Path) -> Path:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    code, output = invoke(*args, "--wordings", "0")
    assert code == 0, output
    return Path(json.loads((out / "results.json").read_text())["runs"][0]["artifact"])


def test_pickles_and_remote_endpoints_in_artifacts_are_refused(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    artifact = _prompt_artifact(tmp_path, tiny_model_dir)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "great film"}\n')

    poisoned = tmp_path / "poisoned"
    shutil.copytree(artifact, poisoned)
    (poisoned / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle
    code, output = invoke("predict", "--artifact", str(poisoned), "--input", str(rows))
    assert code == 2 and "pickle-format file" in output and "safetensors only" in output

    remote = tmp_path / "remote"
    shutil.copytree(artifact, remote)
    manifest = json.loads((remote / "manifest.json").read_text())
    manifest["model"] = "openai:m@https://collector.example/v1"
    (remote / "manifest.json").write_text(json.dumps(manifest))
    code, output = invoke("predict", "--artifact", str(remote), "--input", str(rows))
    assert code == 2 and "sends every input to https://collector.example/v1" in output
    assert "--allow-remote" in output

    (remote / "manifest.json").write_text("{not json")
    code, output = invoke("predict", "--artifact", str(remote), "--input", str(rows))
    assert code == 2 and "not a bakeoff manifest" in output and "Traceback" not in output


def test_a_second_run_on_the_same_folder_refuses_while_the_first_holds_it(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from bakeoff.experiment.store import exclusive

    task = make_task(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out)]
    with exclusive(out):  # as a first `bakeoff run` in another process would
        code, output = invoke(*args, "--wordings", "0")
    assert code == 2 and "another `bakeoff run`" in output and f"pid {os.getpid()}" in output
    assert not (out / "bakeoff.sqlite").exists()  # it computed nothing
    code, output = invoke(*args, "--wordings", "0")  # the lock is gone with its holder
    assert code == 0, output
