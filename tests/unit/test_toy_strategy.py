"""A strategy added from outside bakeoff: one file, one registration — and it runs through an
experiment, the run store, the report and `bakeoff predict --artifact` like a built-in one."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field
from typer.testing import CliRunner

from bakeoff.artifacts import write_manifest
from bakeoff.cli import app
from bakeoff.config import StrictModel
from bakeoff.strategy import Prediction, RunContext
from bakeoff.strategy_registry import (
    Resolved,
    StrategyInfo,
    register_strategy,
    strategy_names,
    unregister_strategy,
)
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec
from tests.unit.test_cli_run import make_task


# --- the whole strategy: settings, candidate, strategy, loader, registration ----------------
class MajoritySettings(StrictModel):
    fallback: str | None = Field(default=None, description="Label when train is empty.")


class MajorityCandidate:
    def __init__(self, task: TaskSpec, label: str, training: dict[str, Any] | None = None):
        self.task, self.label, self.training = task, label, training

    def describe(self) -> dict[str, Any]:
        return {"always": self.label}

    def predict(self, examples: Sequence[Example], progress: Any = None) -> list[Prediction]:
        return [Prediction(ex.id, self.label) for ex in examples]

    def save(self, folder: Path) -> None:
        task = self.task.model_dump(mode="json")
        write_manifest(
            folder, "toy-majority", {"kind": "trained", "task": task, "label": self.label}
        )


class Majority:
    name = "toy-majority"
    uses_model = False

    def __init__(self, settings: MajoritySettings):
        self.settings = settings

    def adapt(
        self,
        task: TaskSpec,
        model: Any,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> MajorityCandidate:
        counts = Counter(ex.label for ex in train)
        label = counts.most_common(1)[0][0] if counts else self.settings.fallback
        return MajorityCandidate(task, str(label), {"parameters": 0, "counts": dict(counts)})


def build(settings: dict[str, Any], resolved: Resolved) -> Majority:
    return Majority(MajoritySettings.model_validate(settings["training"].get("toy", {})))


def load(folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str) -> MajorityCandidate:
    return MajorityCandidate(task, manifest["label"])


TOY = StrategyInfo(
    name="toy-majority",
    kind="trained",
    summary="always the most frequent train label",
    build=build,
    load=load,
    axes=frozenset({"train_size", "seed"}),
    settings=MajoritySettings,
    settings_key="toy",
    uses_prompt=False,
    own_model=lambda settings: "majority-counter",
)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def toy_registered() -> Iterator[None]:
    register_strategy(TOY)
    yield
    unregister_strategy(TOY.name)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_registered_strategy_runs_through_experiment_store_report_and_predict(
    tmp_path: Path, tiny_model_dir: Path, toy_registered: None
) -> None:
    assert "toy-majority" in strategy_names()
    make_task(tmp_path)
    exp = tmp_path / "experiment.yaml"
    exp.write_text(
        f"name: toy-exp\ntask: task.yaml\nmodels: ['{tiny_model_dir}']\n"
        "strategies: [zero-shot, {name: toy-majority, toy: {fallback: positive}}]\n"
        "train_sizes: [8, all]\n"
    )
    out = tmp_path / "out"
    code, output = invoke("run", str(exp), "--out", str(out))
    assert code == 0, output

    results = json.loads((out / "results.json").read_text())["runs"]
    toy = [r for r in results if r["strategy"] == "toy-majority"]
    assert len(toy) == 2 and {r["train_size"] for r in toy} == {8, 28}
    assert all(r["kind"] == "trained" and r["model"] == "majority-counter" for r in toy)
    report = json.loads((out / "report.json").read_text())
    names = {c["name"] for c in report["candidates"]}
    assert {"toy-majority n=8", "toy-majority n=28"} <= names

    run = toy[0]
    rows = tmp_path / "new.jsonl"
    rows.write_text("".join(json.dumps({"text": p["id"]}) + "\n" for p in run["predictions"][:5]))
    code, output = invoke("predict", "--artifact", run["artifact"], "--input", str(rows))
    assert code == 0, output
    predicted = [json.loads(line)["output"] for line in output.splitlines() if line.strip()]
    assert predicted == [p["output"] for p in run["predictions"][:5]]


def test_settings_of_a_registered_strategy_are_validated(
    tmp_path: Path, tiny_model_dir: Path, toy_registered: None
) -> None:
    make_task(tmp_path)
    exp = tmp_path / "experiment.yaml"
    exp.write_text(
        f"name: toy-exp\ntask: task.yaml\nmodels: ['{tiny_model_dir}']\n"
        "strategies: [{name: toy-majority, toy: {fallbak: positive}},\n"
        "  {name: toy-majority, lora: {}}]\n"
    )
    code, output = invoke("run", str(exp), "--out", str(tmp_path / "o"))
    text = " ".join(output.split())
    assert code == 2 and "Traceback" not in output
    assert "fallbak" in text and "has no setting `lora`" in text
