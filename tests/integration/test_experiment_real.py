"""A small bake-off on the bundled models, killed with SIGKILL after its first finished run and
resumed; then its report opened in headless Chromium.

One module fixture runs the experiment (the slow part); the tests read what it left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EXPERIMENT = f"""\
name: sst2-tiny
task: {REPO / "examples/sst2/task.yaml"}
strategies:
  - zero-shot
  - {{name: few-shot, demos: knn, shots: 2}}
  - {{name: lora, training: {{max_steps: 4, eval_every: 2, eval_rows: 16}}}}
  - name: lora+few-shot
    demos: knn
    shots: 1
    training: {{max_steps: 3, eval_every: 3, eval_rows: 16}}
  - {{name: encoder-head, training: {{max_steps: 6, eval_every: 3, eval_rows: 16}}}}
train_sizes: [16, 48]
wordings: [0, 1]
test_size: 40
constraints: {{requests_per_month: 300000, latency_ms: 2000, new_data_every_months: 6}}
"""
PLANNED = 2 + 4 + 2 + 2 + 2  # zero-shot ×2 wordings; few-shot ×2 sizes ×2; the rest ×2 sizes


def count_runs(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def bakeoff(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("experiment")
    spec = folder / "experiment.yaml"
    spec.write_text(EXPERIMENT)
    out = folder / "out"
    store = out / "bakeoff.sqlite"
    cmd = [sys.executable, "-m", "bakeoff.cli", "run", str(spec), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while count_runs(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = count_runs(store)
    db = sqlite3.connect(store)
    first = dict(db.execute("SELECT key, finished_at FROM runs").fetchall())
    db.close()
    resumed = bakeoff("run", str(spec), "--out", str(out))
    return {"out": out, "store": store, "at_kill": at_kill, "first": first, "resumed": resumed}


def test_sigkill_then_rerun_finishes_every_run_exactly_once(experiment: dict[str, Any]) -> None:
    resumed = experiment["resumed"]
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert 1 <= experiment["at_kill"] < PLANNED
    db = sqlite3.connect(experiment["store"])
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [row[0] for row in db.execute("SELECT key FROM runs")]
    assert len(keys) == len(set(keys)) == PLANNED
    finished = dict(db.execute("SELECT key, finished_at FROM runs").fetchall())
    db.close()
    for key, when in experiment["first"].items():  # runs done before the kill were not redone
        assert finished[key] == when
    assert resumed.stdout.count("already done") == experiment["at_kill"]


def test_report_opens_in_headless_chromium_without_network(
    experiment: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    html = experiment["out"] / "report.html"
    assert Path("/usr/bin/chromium").exists(), "Chromium is missing: run `make install`"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        loaded = page.evaluate(
            "Array.from(document.querySelectorAll('img.plot')).map(i => i.naturalWidth)"
        )
        rows = page.locator("table.leaderboard tr").count()
        recommendation = page.inner_text("#recommendation")
        figures = [
            page.locator(f"figure#{i}").count()
            for i in (
                "quality-cost",
                "learning-curves",
                "cost-volume",
                "confusion",
                "wording",
                "overfitting",
            )
        ]
        browser.close()
    report = json.loads((experiment["out"] / "report.json").read_text())
    assert shot.stat().st_size > 50_000  # a real page of text and charts, not a blank one
    assert len(loaded) >= 6 and all(width > 100 for width in loaded)  # every chart decoded
    assert figures == [1, 1, 1, 1, 1, 1]
    assert rows == 1 + len(report["candidates"])
    assert report["recommendation"]["choice"] in recommendation
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []


def test_recommendation_names_the_measured_figures(experiment: dict[str, Any]) -> None:
    report = json.loads((experiment["out"] / "report.json").read_text())
    rec = report["recommendation"]
    champion = next(c for c in report["candidates"] if c["name"] == rec["choice"])
    assert f"{100 * champion['mean']:.1f}%" in rec["reasons"][0]
    rules = {f["rule"] for f in rec["findings"]}
    assert {"evidence", "request volume", "maintenance"} <= rules
    assert "task complexity" in rules
    if champion["strategy"] != "zero-shot":  # a learning curve exists for what was chosen
        assert "data availability" in rules
    assert report["crossover"]["table"], "both prompting and fine-tuning ran at each size"
