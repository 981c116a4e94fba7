"""`bakeoff update` on a finished experiment (tiny model): new rows split like the task and
checked against every earlier row, their drift, the champion re-scored on old and new test
rows, challengers re-adapted on the grown data, the promotion decision — and an interrupted
update that, rerun, ends as an uninterrupted one."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bakeoff.errors import BakeoffError
from tests.unit.test_cli_run import invoke, make_task, write_jsonl

GRID = """\
name: tiny-update
task: task.yaml
models: ['{model}']
strategies:
  - zero-shot
  - {{name: few-shot, demos: random, shots: 2}}
  - {{name: lora, training: {{max_steps: 2, eval_every: 2, eval_rows: 4, batch_size: 4}}}}
train_sizes: [8]
"""


def new_rows(folder: Path) -> Path:
    negative = ["a dreadful mess", "tedious and flat", "a waste of an evening", "painfully slow"]
    rows = [{"text": f"{t}, take {i}", "label": "negative"} for t in negative for i in range(12)]
    rows += [{"text": f"charming cast {i}", "label": "positive"} for i in range(4)]
    write_jsonl(folder / "new.jsonl", rows)
    return folder / "new.jsonl"


@pytest.fixture
def experiment(tmp_path: Path, tiny_model_dir: Path) -> Path:
    make_task(tmp_path)
    (tmp_path / "experiment.yaml").write_text(GRID.format(model=tiny_model_dir))
    code, output = invoke("run", str(tmp_path / "experiment.yaml"), "--out", str(tmp_path / "out"))
    assert code == 0, output
    return tmp_path / "out"


def test_dry_run_measures_drift_and_rechecks_the_champion(experiment: Path) -> None:
    data = new_rows(experiment.parent)
    args = ["update", str(experiment), "--data", str(data), "--dry-run"]
    code, output = invoke(*args, "--json")
    assert code == 3, output  # new words and a new label mix: re-adapting is worth a look
    result = json.loads(output.strip().splitlines()[-1])
    assert result["consider"] and result["drift"]["verdict"] == "strong"
    assert result["drift"]["label_shares"]["negative"] == [0.5, 48 / 52]
    champion = result["champion"]
    assert champion["new_rows"] == 10 and champion["old_rows"] == 8  # the task's 20% test share
    change = champion["change"]
    assert change["ci_low"] <= change["value"] <= change["ci_high"]
    assert change["value"] == champion["new"]["value"] - champion["old"]["value"]
    assert result["decision"] is None and not (experiment / "versions").exists()
    code, output = invoke(*args)
    assert code == 3 and "drift: strong" in output and "champion" in output

    write_jsonl(
        experiment.parent / "again.jsonl", [{"text": "great film 3", "label": "positive"}] * 2
    )
    again = ["update", str(experiment), "--data", str(experiment.parent / "again.jsonl")]
    code, output = invoke(*again, "--dry-run")
    flat = " ".join(output.split())
    assert code == 2 and "again.jsonl:1: field 'text': also in the task's existing split" in flat
    assert "again.jsonl:2: field 'text': duplicate of" in flat and "Traceback" not in output


def test_update_adapts_challengers_decides_and_resumes(
    experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = new_rows(experiment.parent)
    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    before = db.execute("SELECT key, record FROM runs ORDER BY key").fetchall()
    db.close()
    reference = experiment.parent / "reference"
    shutil.copytree(experiment, reference)

    # an update killed after its first challenger, then rerun
    import bakeoff.update.flow as flow

    real_execute, calls = flow.execute, []

    def execute_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(flow, "execute", execute_then_die)
    code, output = invoke("update", str(experiment), "--data", str(data), "--json")
    assert code == 130, output
    monkeypatch.setattr(flow, "execute", real_execute)
    code, output = invoke("update", str(experiment), "--data", str(data), "--json")
    assert code == 0, output
    resumed = json.loads(output.strip().splitlines()[-1])

    code, output = invoke("update", str(reference), "--data", str(data), "--json")
    assert code == 0, output
    straight = json.loads(output.strip().splitlines()[-1])
    assert resumed["decision"] == straight["decision"] and resumed["version"] == 2
    assert [c["key"] for c in resumed["challengers"]] == [c["key"] for c in straight["challengers"]]

    decision = resumed["decision"]
    # zero-shot learns from no rows (skipped); lora and few-shot n=8 are re-adapted on 8 + 42 rows
    assert len(resumed["challengers"]) == 2 and any("zero-shot" in s for s in resumed["skipped"])
    assert all(c["label"].endswith("v2") for c in resumed["challengers"])
    assert decision["champion"] and all(len(c["reasons"]) == 2 for c in decision["challenges"])
    assert decision["reasons"] and decision["margin"] == 0.02  # the constraints' default

    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT key, record FROM runs ORDER BY key").fetchall() == before  # v1 kept
    assert db.execute("SELECT COUNT(*) FROM update_runs WHERE version = 2").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 1
    db.close()
    stored = (experiment / "versions" / "v2.jsonl").read_text().splitlines()
    assert len(stored) == 52 and sum('"split": "test"' in line for line in stored) == 10

    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    decided = db.execute("SELECT record FROM promotions").fetchall()
    db.close()
    code, output = invoke("update", str(experiment), "--data", str(data))  # the same update again
    assert code == 0 and "decided before; unchanged" in output and "decision:" in output
    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    assert db.execute("SELECT record FROM promotions").fetchall() == decided  # not re-decided
    db.close()
    code, output = invoke("update", str(experiment), "--data", str(data), "--window", "1")
    assert code == 2 and "was decided with --window all" in " ".join(output.split())

    code, output = invoke("status", str(experiment))  # update runs are not "missing" runs
    assert code == 0 and "not in the store" not in output
    code, output = invoke("rebuild", str(experiment))  # versions and decisions come back too
    assert code == 0, output
    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(before)
    assert db.execute("SELECT COUNT(*) FROM update_runs").fetchone()[0] == 2
    assert db.execute("SELECT record FROM promotions").fetchall() == decided
    assert db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 1
    db.close()
    history = (experiment / "report.md").read_text()
    assert (
        "## History (bakeoff update)" in history
        and "| v2 | 42 train + 10 test | strong |" in history
    )
    assert 'id="history"' in (experiment / "report.html").read_text()

    from bakeoff.serve.source import resolve

    served = resolve(experiment)  # serving follows a promotion
    promoted_line = "Promoted by `bakeoff update` at data version v2"
    if decision["promoted"]:
        assert served.name == decision["promoted"] and served.info["data_version"] == 2
        assert f"## Champion: {decision['promoted']}" in history and promoted_line in history
        return
    assert served.name == decision["champion"] and "data_version" not in served.info
    assert f"## Champion: {decision['champion']}" in history and promoted_line not in history

    # the other outcome, stored as a promotion would be: report and serve follow the promoted run
    from bakeoff.experiment.store import RunStore

    store = RunStore(experiment / "bakeoff.sqlite")
    record = store.promotions()[0]
    first = resumed["challengers"][0]
    name = decision["challenges"][0]["challenger"]
    record["decision"] = {**decision, "promoted": name, "promoted_key": first["key"]}
    store.put_promotion(record)
    store.close()
    code, output = invoke("report", str(experiment))
    assert code == 0, output
    champion = (experiment / "report.md").read_text().split("## Champion: ")[1]
    assert champion.startswith(name) and promoted_line in champion and first["key"] in champion
    assert (
        promoted_line.replace("`bakeoff update`", "<code>bakeoff update</code>")
        in (experiment / "report.html").read_text()
    )
    served = resolve(experiment)
    assert served.name == name and served.info["data_version"] == 2


def test_warm_start_trains_the_champion_on_from_its_own_weights(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from bakeoff.finetuning.causal import load_warm_start
    from bakeoff.finetuning.config import LoraSettings
    from bakeoff.finetuning.lora import LORA_METHOD, apply_lora
    from bakeoff.models.hf import HFCausalLM

    make_task(tmp_path)
    training = "{max_steps: 4, eval_every: 2, eval_rows: 4, batch_size: 4, lr: 0.05}"
    (tmp_path / "experiment.yaml").write_text(
        f"name: warm\ntask: task.yaml\nmodels: ['{tiny_model_dir}']\n"
        f"strategies: [{{name: lora, training: {training}}}]\ntrain_sizes: [16]\n"
        "training: {eval_at_start: false}\n"  # the champion keeps trained weights, not its start
    )
    out = tmp_path / "out"
    code, output = invoke("run", str(tmp_path / "experiment.yaml"), "--out", str(out))
    assert code == 0, output
    champion = json.loads((out / "results.json").read_text())["runs"][0]
    args = ["update", str(out), "--data", str(new_rows(tmp_path)), "--warm-start"]
    code, output = invoke(*args, "--challengers", "0", "--json")
    assert code == 0, output
    result = json.loads(output.strip().splitlines()[-1])
    cold, warm = result["challengers"]
    assert warm["label"].endswith("v2 warm") and not cold["label"].endswith("warm")
    names = [c["challenger"] for c in result["decision"]["challenges"]]
    assert names[1] == f"{names[0]} (warm start)"
    runs = {r["key"]: r for r in _update_runs(out)}
    assert runs[warm["key"]]["training"]["history"] != runs[cold["key"]]["training"]["history"]

    # what a warm start loads is exactly the champion's adapter
    artifact = Path(champion["artifact"])
    base = HFCausalLM.load(str(tiny_model_dir)).model
    model = apply_lora(copy.deepcopy(base), LoraSettings(), classes=2)
    load_warm_start(model, artifact, LORA_METHOD)
    saved = load_file(artifact / "adapter" / "adapter_model.safetensors")
    loaded = get_peft_model_state_dict(model)
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k].to(saved[k].dtype)) for k in saved)
    # a model adapting fewer layers than the champion would drop some of its weights: refused
    fewer = apply_lora(base, LoraSettings(target_modules="attention"), classes=2)
    with pytest.raises(BakeoffError, match="belong to layers this model does not adapt"):
        load_warm_start(fewer, artifact, LORA_METHOD)


def _update_runs(out: Path) -> list[dict]:  # type: ignore[type-arg]
    db = sqlite3.connect(out / "bakeoff.sqlite")
    rows = [json.loads(r[0]) for r in db.execute("SELECT record FROM update_runs")]
    db.close()
    return rows


def test_the_new_rows_may_come_as_a_task_file(experiment: Path) -> None:
    """`--task NEW.yaml`: its data's rows (all splits, its own field names) are the version, as
    the same rows given with --data would be; another kind or new labels are refused."""
    folder = experiment.parent
    rows = [json.loads(line) for line in new_rows(folder).read_text().splitlines()]
    write_jsonl(folder / "renamed.jsonl", [{"review": r["text"], "y": r["label"]} for r in rows])
    (folder / "new_task.yaml").write_text(
        "name: tiny-v2\nkind: classification\ndata: {file: renamed.jsonl}\n"
        "fields: {input: review, label: y}\nlabels: [positive, negative]\n"
    )
    base = ["update", str(experiment), "--dry-run", "--json"]
    code, by_task = invoke(*base, "--task", str(folder / "new_task.yaml"))
    assert code == 3, by_task
    code, by_data = invoke(*base, "--data", str(folder / "new.jsonl"))
    assert code == 3, by_data
    assert by_task.strip().splitlines()[-1] == by_data.strip().splitlines()[-1]

    (folder / "more_labels.yaml").write_text(
        "name: tiny-v2\nkind: classification\ndata: {file: renamed.jsonl}\n"
        "fields: {input: review, label: y}\nlabels: [positive, negative, mixed]\n"
    )
    code, output = invoke(*base, "--task", str(folder / "more_labels.yaml"))
    flat = " ".join(output.split())
    assert code == 2 and "labels the experiment does not: 'mixed'" in flat
    assert "--extend-labels" in flat
    code, output = invoke("update", str(experiment), "--dry-run")
    assert code == 2 and "--data FILE or as --task" in output


def test_extend_labels_grows_the_label_set_and_readapts_every_candidate(
    experiment: Path,
) -> None:
    folder = experiment.parent
    rows = [json.loads(line) for line in new_rows(folder).read_text().splitlines()]
    rows += [{"text": f"good in parts, dull in others {i}", "label": "mixed"} for i in range(10)]
    write_jsonl(folder / "mixed.jsonl", rows)
    args = ["update", str(experiment), "--data", str(folder / "mixed.jsonl")]
    code, output = invoke(*args)
    flat = " ".join(output.split())
    assert code == 2 and "labels the experiment does not: 'mixed' (" in flat
    assert "mixed.jsonl:53)" in flat and "--extend-labels" in flat  # where it first appears

    code, output = invoke(*args, "--extend-labels", "--json")
    assert code == 0, output
    result = json.loads(output.strip().splitlines()[-1])
    assert result["drift"]["label_shares"]["mixed"][0] == 0  # a label v1 never had
    # every candidate re-adapted, zero-shot included: its prompt lists the labels
    labels = sorted(c["label"].split(" ")[0] for c in result["challengers"])
    assert labels == ["few-shot", "lora", "zero-shot"] and not result["skipped"]
    for run in _update_runs(experiment):
        manifest = json.loads((Path(run["artifact"]) / "manifest.json").read_text())
        assert [label["name"] for label in manifest["task"]["labels"]][-1] == "mixed"
    db = sqlite3.connect(experiment / "bakeoff.sqlite")
    (version,) = [json.loads(r[0]) for r in db.execute("SELECT record FROM versions")]
    db.close()
    assert version["labels_added"] == ["mixed"]
    assert "new labels: mixed" in (experiment / "report.md").read_text()

    # a later version may use the label without the option; the new labels stay added
    more = [{"text": f"half great, half bad, cut {i}", "label": "mixed"} for i in range(6)]
    write_jsonl(folder / "v3.jsonl", more)
    later = ["update", str(experiment), "--data", str(folder / "v3.jsonl"), "--dry-run"]
    code, output = invoke(*later)
    assert code in (0, 3), output
