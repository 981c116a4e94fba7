"""Drift between data versions, on real rows of the shared AG News data: a changed topic mix is
found (with the words and the label that moved), a changed domain without labels too, and two
samples of one distribution get "none" in all but a few resamples."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from bakeoff.evaluation.drift import auc, false_alarm_rate, jensen_shannon, measure_drift
from bakeoff.task.example import Example

AG_NEWS = Path(__file__).resolve().parents[3] / "shared/datasets/ag_news/train.jsonl"


@pytest.fixture(scope="module")
def by_topic() -> dict[str, list[Example]]:
    rows = [json.loads(line) for line in AG_NEWS.read_text(encoding="utf-8").splitlines()]
    out: dict[str, list[Example]] = {}
    for i, row in enumerate(rows, start=1):
        out.setdefault(row["label"], []).append(
            Example(f"train.jsonl:{i}", row["text"], row["label"])
        )
    for group in out.values():
        random.Random(0).shuffle(group)
    return out


def test_auc_and_jensen_shannon_on_known_values() -> None:
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert auc(np.array([1.0, 1.0]), np.array([False, True])) == 0.5  # a tie is a coin
    same = np.array([0.5, 0.5])
    assert jensen_shannon(same, same) == 0.0
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_a_changed_topic_mix_is_strong_drift(by_topic: dict[str, list[Example]]) -> None:
    t = by_topic
    v1 = t["World"][:200] + t["Sports"][:200] + t["Business"][:50] + t["Sci/Tech"][:50]
    v2 = t["World"][200:250] + t["Sports"][200:250] + t["Business"][50:250] + t["Sci/Tech"][50:250]
    report = measure_drift(v1, v2)
    assert report.verdict == "strong"
    assert report.label_js is not None and report.label_js.significant
    old, new = report.label_shares["Business"]
    assert (old, new) == (0.1, 0.4)
    assert report.input_auc.significant and report.input_auc.statistic > 0.6
    # the words that mark the new version are the topics that grew
    assert {"microsoft", "oil", "software", "company"} & set(report.separating_words["new"])
    assert any("label mix" in r for r in report.reasons)


def test_a_new_domain_without_labels_is_input_drift(by_topic: dict[str, list[Example]]) -> None:
    unlabelled = {k: [Example(e.id, e.text) for e in v] for k, v in by_topic.items()}
    report = measure_drift(unlabelled["World"][:150], unlabelled["Sports"][:150])
    assert report.verdict == "strong" and report.label_js is None
    assert report.input_auc.statistic > 0.9 and report.input_auc.p <= 0.01


def test_two_samples_of_one_distribution_rarely_alarm(by_topic: dict[str, list[Example]]) -> None:
    rows = [e for group in by_topic.values() for e in group]
    # Bonferroni over 4 tests at 0.05: about 5% expected. Measured 0 of 20 (250 + 250 rows,
    # seed 0); this test: 10 resamples of 150 + 150 rows, bound 2 of 10 (P ≈ 1% at a 5% rate).
    assert false_alarm_rate(rows, 150, resamples=10) <= 0.2


def test_drift_command_reports_and_fails_on_request(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bakeoff.cli import app

    task = str(Path(__file__).resolve().parents[2] / "examples/ag_news/task.yaml")
    test_rows = (AG_NEWS.parent / "test.jsonl").read_text(encoding="utf-8").splitlines()
    business = [r for r in test_rows if json.loads(r)["label"] == "Business"][:150]
    (tmp_path / "new.jsonl").write_text("\n".join(business) + "\n")
    args = ["drift", "--task", task, "--data", str(tmp_path / "new.jsonl")]
    result = CliRunner().invoke(app, [*args, "--fail-on", "strong"])
    assert result.exit_code == 3, result.output  # all Business: the label mix moved
    assert "drift: strong" in result.output and "Business 25% → 100%" in result.output
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert report["verdict"] == "strong" and report["label_shares"]["Business"][1] == 1.0

    (tmp_path / "bad.jsonl").write_text('{"text": "x", "label": "Weather"}\n{"label": "World"}\n')
    bad = CliRunner().invoke(app, ["drift", "--task", task, "--data", str(tmp_path / "bad.jsonl")])
    flat = " ".join(bad.output.split())
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "bad.jsonl:1: field 'label': label 'Weather' is not one of the declared" in flat
    assert "bad.jsonl:2: field 'text': missing input field" in flat
