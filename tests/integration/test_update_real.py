"""`bakeoff update` on real data and the bundled models: an AG News experiment whose v1 is
mostly World and Sports gets a v2 that is mostly Business. Drift is found with its figures,
the champion re-scored on old and new test rows, a challenger re-adapted, the decision and the
history written; the store stays sound and the v1 runs untouched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app

REPO = Path(__file__).resolve().parents[2]
AG_NEWS = REPO.parent / "shared/datasets/ag_news/train.jsonl"
pytestmark = pytest.mark.slow


def take(rows: list[dict[str, str]], counts: dict[str, int]) -> list[dict[str, str]]:
    out = []
    for label, n in counts.items():
        out += [r for r in rows if r["label"] == label][:n]
        rows = [r for r in rows if r not in out]
    return out


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_update_on_real_drift(tmp_path: Path) -> None:
    pool = [json.loads(line) for line in AG_NEWS.read_text(encoding="utf-8").splitlines()[:3000]]
    pool = [r for r in pool if r["label"] != "Sci/Tech"]
    v1 = take(pool, {"World": 50, "Sports": 50, "Business": 20})
    rest = [r for r in pool if r not in v1]
    v2 = take(rest, {"World": 8, "Sports": 8, "Business": 64})
    write(tmp_path / "data.jsonl", v1)
    write(tmp_path / "new.jsonl", v2)
    (tmp_path / "task.yaml").write_text(
        "name: news3\nkind: classification\ndescription: Topic of a news article.\n"
        "data: {file: data.jsonl}\nfields: {input: text, label: label}\n"
        "labels: [World, Sports, Business]\nprompt: {input_prefix: Article, output_prefix: Topic}\n"
    )
    (tmp_path / "experiment.yaml").write_text(
        "name: news3\ntask: task.yaml\nstrategies:\n  - zero-shot\n"
        "  - {name: encoder-head, training: {max_steps: 30}}\n"
    )
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(tmp_path / "experiment.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(out / "bakeoff.sqlite")
    v1_runs = db.execute("SELECT key, record FROM runs ORDER BY key").fetchall()
    db.close()

    result = runner.invoke(
        app, ["update", str(out), "--data", str(tmp_path / "new.jsonl"), "--json"]
    )
    assert result.exit_code == 0, result.output
    update = json.loads(result.output.strip().splitlines()[-1])
    drift = update["drift"]
    # v1 has 17% Business, v2 80%: the label mix moved far beyond chance
    assert drift["verdict"] == "strong" and drift["label_js"]["significant"]
    business = drift["label_shares"]["Business"]
    assert business[0] < 0.2 and business[1] > 0.75
    champion = update["champion"]
    assert champion["old_rows"] == 24 and champion["new_rows"] == 16  # 20% test shares
    assert (
        0 <= champion["new"]["value"] <= 1
        and champion["change"]["ci_low"] <= champion["change"]["ci_high"]
    )
    # zero-shot learns from no rows (skipped): encoder-head is the one challenger, on its own
    # training rows plus the 64 new ones
    (challenger,) = update["challengers"]
    assert challenger["label"].startswith("encoder-head") and challenger["label"].endswith("v2")
    assert any("zero-shot" in line for line in update["skipped"])
    decision = update["decision"]
    assert decision["champion"] == champion["champion"] and decision["reasons"]
    challenge = decision["challenges"][0]
    assert len(challenge["reasons"]) == 2 and "Holm" in challenge["reasons"][0]

    db = sqlite3.connect(out / "bakeoff.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT key, record FROM runs ORDER BY key").fetchall() == v1_runs
    db.close()
    history = (out / "report.md").read_text()
    assert (
        "## History (bakeoff update)" in history
        and "| v2 | 64 train + 16 test | strong |" in history
    )
