"""`bakeoff update --dry-run` on a finished experiment: new rows split like the task, checked
against every earlier row, their drift measured and the champion's artifact re-scored on the
old and the new test rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_cli_run import invoke, make_task, write_jsonl


def test_dry_run_measures_drift_and_rechecks_the_champion(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    code, output = invoke(
        "run", "--task", str(task), "--model", str(tiny_model_dir), "--out", str(out),
        "--strategy", "zero-shot", "--wordings", "0",
    )  # fmt: skip
    assert code == 0, output
    negative = ["a dreadful mess", "tedious and flat", "a waste of an evening", "painfully slow"]
    new = [{"text": f"{t}, take {i}", "label": "negative"} for t in negative for i in range(12)]
    new += [{"text": f"charming cast {i}", "label": "positive"} for i in range(4)]
    write_jsonl(tmp_path / "new.jsonl", new)
    args = ["update", str(out), "--data", str(tmp_path / "new.jsonl"), "--dry-run"]
    code, output = invoke(*args, "--json")
    assert code == 3, output  # new words and a new label mix: re-adapting is worth a look
    result = json.loads(output.strip().splitlines()[-1])
    assert result["consider"] and result["drift"]["verdict"] == "strong"
    assert result["drift"]["label_shares"]["negative"] == [0.5, 48 / 52]
    champion = result["champion"]
    assert champion["champion"].startswith("zero-shot") and champion["new_rows"] == 10  # 20%
    change = champion["change"]
    assert change["ci_low"] <= change["value"] <= change["ci_high"]
    assert change["value"] == champion["new"]["value"] - champion["old"]["value"]
    code, output = invoke(*args)
    assert code == 3 and "drift: strong" in output and "champion zero-shot" in output

    write_jsonl(tmp_path / "again.jsonl", [{"text": "great film 3", "label": "positive"}] * 2)
    code, output = invoke("update", str(out), "--data", str(tmp_path / "again.jsonl"), "--dry-run")
    flat = " ".join(output.split())
    assert code == 2 and "again.jsonl:1: field 'text': also in the task's existing split" in flat
    assert "again.jsonl:2: field 'text': duplicate of" in flat and "Traceback" not in output

    code, output = invoke("update", str(out), "--data", str(tmp_path / "new.jsonl"))
    assert code == 2 and "rerun with --dry-run" in " ".join(output.split())
