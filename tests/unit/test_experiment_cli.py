"""`bakeoff run experiment.yaml`, `status`, `report`, `advise` on a tiny local model, and the
errors bad experiment files get before any run starts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.unit.test_cli_run import make_task


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def write_experiment(folder: Path, model: Path, body: str) -> Path:
    make_task(folder)
    path = folder / "experiment.yaml"
    path.write_text(f"name: tiny-exp\ntask: task.yaml\nmodels: ['{model}']\n" + body)
    return path


GRID = """\
strategies:
  - zero-shot
  - {name: few-shot, demos: random, shots: 2}
  - {name: lora, training: {max_steps: 2, eval_every: 2, eval_rows: 8, batch_size: 4}}
train_sizes: [8, all]
wordings: [0, 1]
constraints: {requests_per_month: 50000, new_data_every_months: 6}
"""


def test_experiment_runs_its_grid_into_the_store_and_reports(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    exp = write_experiment(tmp_path, tiny_model_dir, GRID)
    out = tmp_path / "out"
    code, output = invoke("run", str(exp), "--out", str(out))
    assert code == 0, output
    # zero-shot: 2 wordings once; few-shot: 2 sizes × 2 wordings; lora: 2 sizes × first wording
    db = sqlite3.connect(out / "bakeoff.sqlite")
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sizes = {row[0] for row in db.execute("SELECT train_size FROM runs")}
    finished = dict(db.execute("SELECT key, finished_at FROM runs").fetchall())
    db.close()
    assert sizes == {None, 8, 28}  # `all` = the whole train split (28 rows here)
    report = json.loads((out / "report.json").read_text())
    assert report["recommendation"]["choice"] in {c["name"] for c in report["candidates"]}
    assert report["recommendation"]["basis"] == "measured"
    assert report["learning_curves"]["sizes"] == [8, 28]
    assert "Recommendation:" in output and "report.html" in output
    html = (out / "report.html").read_text()
    assert html.count('class="plot"') >= 4 and "http://" not in html and "https://" not in html
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# bakeoff: tiny-exp")
    # the schedule each trained run used, and why; where its stopping signal stood
    assert (
        "## Training" in markdown
        and "2 steps (" in markdown
        and "max_steps, set by you" in markdown
    )
    assert 'id="training"' in html and "kept step" in markdown

    code, output = invoke("run", str(exp), "--out", str(out))  # rerun: nothing runs again
    assert code == 0 and output.count("already done") == 8
    db = sqlite3.connect(out / "bakeoff.sqlite")
    assert dict(db.execute("SELECT key, finished_at FROM runs").fetchall()) == finished
    db.close()

    code, output = invoke("status", str(out))
    assert code == 0 and "8 of 8 runs done" in output and "integrity: ok" in output
    code, output = invoke("report", str(out))
    assert code == 0 and "Recommendation:" in output
    code, output = invoke("advise", str(out), "--latency-ms", "0.001")
    assert code == 0 and "no candidate meets the constraints" in output
    code, output = invoke("advise", str(out), "--new-data-every-months", "100")
    flat = " ".join(output.split())
    assert code == 2 and "constraints: --constraints" not in flat and "longer than" in flat


def test_growing_the_grid_runs_only_the_new_runs(tmp_path: Path, tiny_model_dir: Path) -> None:
    exp = write_experiment(tmp_path, tiny_model_dir, "strategies: [zero-shot]\n")
    out = tmp_path / "out"
    assert invoke("run", str(exp), "--out", str(out))[0] == 0
    exp.write_text(exp.read_text().replace("[zero-shot]", "[zero-shot, few-shot]"))
    code, output = invoke("run", str(exp), "--out", str(out))
    assert code == 0, output
    assert output.count("already done") == 1 and output.count("  done") == 1


BAD = [
    ("strategies: [zero-shot, fine-tune]\n", "experiment.yaml:4", "unknown strategy 'fine-tune'"),
    (
        "strategies: [zero-shot]\ntrain_sizes: [5000]\n",
        "experiment.yaml:5",
        "larger than the train",
    ),
    (
        "strategies: [zero-shot]\nconstraints: {horizon_months: 6, new_data_every_months: 12}\n",
        "experiment.yaml:5",
        "longer than `horizon_months`",
    ),
    (
        "strategies: [zero-shot, lora]\nconstraints: {training_budget_usd: 0}\n",
        "experiment.yaml:5",
        "training_budget_usd` is 0",
    ),
    (
        "strategies: [zero-shot]\nwordings: [0, 9]\n",
        "experiment.yaml:5",
        "wording 9 does not exist",
    ),
    ("strategies: [zero-shot]\nseedz: [1]\n", "experiment.yaml:5", "unknown field"),
    (
        "strategies: [few-shot]\nwordings: [0, 1, 2]\nseeds: [0, 1]\nbudget: {max_runs: 3}\n",
        "experiment.yaml:7",
        "the grid has 6 runs but budget.max_runs is 3",
    ),
    (
        "strategies: [{name: lora, training: {epochz: 2}}]\n",
        "experiment.yaml:4",
        "field 'strategies.0.training': `training`: `epochz` unknown setting",
    ),
    (
        "strategies: [{name: lora, lora: {r: 0, alpha: x}}, {name: zero-shot, shots: 2}]\n",
        "experiment.yaml:4",
        "`lora`: `r` Input should be greater than or equal to 1; `alpha` Input should be a valid"
        " integer",
    ),
    (
        "strategies: [{name: zero-shot, shots: 2}]\n",
        "experiment.yaml:4",
        "`demos`/`shots` apply to few-shot prompts, not to 'zero-shot'",
    ),
    (
        "strategies: [{name: encoder-head, lora: {r: 4}}]\n",
        "experiment.yaml:4",
        "strategy 'encoder-head' has no setting `lora` (it takes `encoder`",
    ),
    ("strategies: [zero-shot]\ntrain_sizes: [8, 8]\n", "experiment.yaml:5", "train sizes repeat"),
]


@pytest.mark.parametrize(("body", "where", "message"), BAD)
def test_bad_experiment_files_fail_before_any_run(
    tmp_path: Path, tiny_model_dir: Path, body: str, where: str, message: str
) -> None:
    exp = write_experiment(tmp_path, tiny_model_dir, body)
    out = tmp_path / "out"
    code, output = invoke("run", str(exp), "--out", str(out))
    flat = " ".join(output.split())
    assert code == 2, output
    assert where in flat and message in flat, flat
    assert "Traceback" not in output
    assert not out.exists()  # nothing ran, nothing was written


def test_advise_without_data_is_a_prior(tmp_path: Path) -> None:
    code, output = invoke("advise", "--labels", "30", "--requests-per-month", "1000")
    assert code == 0 and "Prior (not measured)" in output and "few-shot" in output
    code, output = invoke("advise", "--labels", "-3", "--requests-per-month", "1000")
    assert code == 2 and "--labels" in output
    code, output = invoke("status", str(tmp_path))
    assert code == 2 and "no bakeoff.sqlite here" in output


def test_serve_source_picks_the_champion_or_a_named_candidate(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from bakeoff.errors import BakeoffError
    from bakeoff.serve.source import resolve
    from bakeoff.strategy_registry import load_candidate

    exp = write_experiment(tmp_path, tiny_model_dir, "strategies: [zero-shot, few-shot]\n")
    out = tmp_path / "out"
    assert invoke("run", str(exp), "--out", str(out))[0] == 0
    report = json.loads((out / "report.json").read_text())
    served = resolve(out)
    assert served.name == report["recommendation"]["choice"] and served.info["champion"]
    other = next(c["name"] for c in report["candidates"] if c["name"] != served.name)
    named = resolve(out, other)
    assert named.name == other and not named.info["champion"]
    for name in [c["name"] for c in report["candidates"]]:  # every candidate reloads
        task, candidate = load_candidate(resolve(out, name).artifact)
        assert task.name == "tiny" and candidate.predict([]) == []
    with pytest.raises(BakeoffError, match="not in"):
        resolve(out, "no-such-candidate")
    with pytest.raises(BakeoffError, match="nothing to serve"):
        resolve(tmp_path)


def test_two_models_give_one_candidate_per_model_strategy_and_size(
    tmp_path: Path, tiny_model_dir: Path, other_tiny_model_dir: Path
) -> None:
    from bakeoff.serve.source import resolve

    make_task(tmp_path)
    exp = tmp_path / "experiment.yaml"
    exp.write_text(
        f"name: two-models\ntask: task.yaml\n"
        f"models: ['{tiny_model_dir}', '{other_tiny_model_dir}']\n"
        "strategies: [zero-shot, {name: few-shot, demos: random, shots: 2},\n"
        "  {name: encoder-head, training: {max_steps: 2, eval_every: 2, eval_rows: 8}},\n"
        "  {name: lora, training: {max_steps: 2, eval_every: 2, eval_rows: 8}}]\n"
        "train_sizes: [8]\n"
    )
    out = tmp_path / "out"
    code, output = invoke("run", str(exp), "--out", str(out))
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    identities = [(c["model"], c["strategy"], c["train_size"]) for c in report["candidates"]]
    assert len(identities) == len(set(identities))  # none merged
    models = {str(tiny_model_dir), str(other_tiny_model_dir)}
    for strategy, size in (("zero-shot", None), ("few-shot", 8)):
        assert {m for m, s, n in identities if (s, n) == (strategy, size)} == models
    # encoder-head brings its own model: one candidate, not one per language model
    assert [m for m, s, _ in identities if s == "encoder-head"] == ["minilm-l6"]
    names = [c["name"] for c in report["candidates"]]
    assert len(names) == len(set(names))
    assert any(f"@{tiny_model_dir.name}" in n for n in names)
    assert any(f"@{other_tiny_model_dir.name}" in n for n in names)
    assert {r["model"] for r in report["runs"]} == models | {"minilm-l6"}
    served = resolve(out)
    assert served.info["model"] in models | {"minilm-l6"}
    assert report["champion"]["model"] == served.info["model"]

    # "Does it depend on the model?": every recipe on both models, encoder-head not among them
    dependence = report["model_dependence"]
    short = sorted([tiny_model_dir.name, other_tiny_model_dir.name])
    assert dependence["models"] == short
    recipes = {row["recipe"]: row for row in dependence["rows"]}
    assert set(recipes) == {"zero-shot auto", "few-shot random×2 auto n=8", "lora auto n=8"}
    for row in recipes.values():
        assert sorted(row["by_model"]) == short and row["spread"] >= 0
        assert row["trained"] == row["recipe"].startswith("lora")
    assert dependence["spread"]["prompting"] is not None
    assert dependence["spread"]["fine_tuning"] == recipes["lora auto n=8"]["spread"]
    finding = next(
        f for f in report["recommendation"]["findings"] if f["rule"] == "model dependence"
    )
    assert (
        "prompting moves by" in finding["message"] and "fine-tuning moves by" in finding["message"]
    )
    markdown = (out / "report.md").read_text()
    assert "## Does it depend on the model?" in markdown and "| lora auto n=8 |" in markdown
    assert 'id="models"' in (out / "report.html").read_text()
