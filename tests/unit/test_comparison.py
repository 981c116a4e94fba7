"""Paired tests, candidate grouping, crossover, and the cost model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bakeoff.analysis.compare import candidates, crossover, learning_curves, wording_variance
from bakeoff.cost.ledger import Usage
from bakeoff.cost.tco import break_even, run_costs, tco, trainings_in_horizon
from bakeoff.evaluation.paired import compare_pair, mcnemar_exact, paired_bootstrap
from bakeoff.experiment.record import RunRecord
from bakeoff.pricing import Constraints, Prices
from bakeoff.task.spec import TaskSpec


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    # 10 rows only A got right, 2 only B: p = 2 * P(X <= 2), X ~ Bin(12, 0.5)
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0


def test_paired_bootstrap_sees_a_real_difference_and_not_a_fake_one() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.85
    b = rng.random(400) < 0.70

    def mean_of(x: np.ndarray):  # type: ignore[no-untyped-def]
        return lambda idx: float(x[idx].mean())

    diff, low, high, p = paired_bootstrap(mean_of(a), mean_of(b), 400)
    # 400 seeded synthetic rows (numpy PCG64: the same draws on every CPU): observed diff 0.115,
    # CI 0.058–0.173, p 0.001, so low clears 0 by 0.058 and p is 10x under 0.01
    assert low < diff < high and low > 0 and p < 0.01
    same = compare_pair(mean_of(a), mean_of(a), 400, a, a)
    assert same.difference == 0 and same.p_value == 1.0 and same.mcnemar_p == 1.0


USAGE = Usage("cpu", 10, 1.0, 1.0, 10.0, 100.0, 50.0, 0.0, 1e9)


def run(key: str, family: str, size: int | None, seed: int, wording: int, acc: float) -> Any:
    strategy = family.split(" ")[0]
    return RunRecord(
        key=key,
        label=key,
        family=family,
        strategy=strategy,
        kind="prompt" if strategy in {"zero-shot", "few-shot"} else "trained",
        model="m",
        seed=seed,
        train_size=size,
        settings={"wording": wording},
        metrics={"accuracy": {"value": acc, "ci_low": acc - 0.05, "ci_high": acc + 0.05}},
        usage=USAGE,
        predictions=[],
    )


@pytest.fixture
def task() -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "t",
            "kind": "classification",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "text", "label": "label"},
            "labels": ["a", "b"],
        }
    )


def test_candidates_average_seeds_and_wordings_and_keep_the_primary_run(task: TaskSpec) -> None:
    runs = [
        run("z0", "zero-shot", None, 0, 0, 0.70),
        run("z1", "zero-shot", None, 0, 1, 0.60),
        run("l0", "lora", 64, 0, 0, 0.80),
        run("l1", "lora", 64, 1, 0, 0.84),
        run("L0", "lora", 256, 0, 0, 0.90),
    ]
    ranked = candidates(task, runs)
    assert [c["name"] for c in ranked] == ["lora n=256", "lora n=64", "zero-shot"]
    lora64 = ranked[1]
    assert lora64["mean"] == pytest.approx(0.82) and lora64["primary"] == "l0"
    assert lora64["n_runs"] == 2 and lora64["std"] > 0
    assert ranked[2]["labels_used"] == 0 and not ranked[2]["trained"]
    curves = learning_curves(ranked, [64, 256])
    lora = next(line for line in curves["lines"] if line["family"] == "lora")
    assert [p["labels"] for p in lora["points"]] == [64, 256]
    spread = wording_variance(task, runs)
    assert spread[0]["candidate"] == "zero-shot" and spread[0]["spread"] == pytest.approx(0.1)


def test_crossover_finds_where_fine_tuning_stays_ahead(task: TaskSpec) -> None:
    runs = [
        run("z", "zero-shot", None, 0, 0, 0.80),
        run("f1", "few-shot", 16, 0, 0, 0.82),
        run("f2", "few-shot", 64, 0, 0, 0.83),
        run("f3", "few-shot", 256, 0, 0, 0.83),
        run("l1", "lora", 16, 0, 0, 0.60),
        run("l2", "lora", 64, 0, 0, 0.86),
        run("l3", "lora", 256, 0, 0, 0.90),
    ]
    result = crossover(candidates(task, runs), [16, 64, 256])
    assert result["at"] == 64 and "overtakes prompting at 64" in result["summary"]
    never = crossover(candidates(task, runs[:5]), [16, 64, 256])
    assert never["at"] is None and "prompting leads" in never["summary"]


def test_cost_model_tco_and_break_even() -> None:
    usage = Usage("cpu", 10, 3600.0, 0.36, 27.8, 36.0, 1000.0, 10.0, 1e9)
    costs = run_costs(usage, None, Prices(cpu_hour_usd=1.0, input_per_1m_tokens_usd=2.0))
    assert costs["one_off_usd"] == pytest.approx(1.0)
    # 36 ms at $1/h = $1e-5, plus 1000 input tokens at $2/1M = $2e-3
    assert costs["per_request_usd"] == pytest.approx(1e-5 + 2e-3)
    c = Constraints(horizon_months=12, new_data_every_months=6)
    assert trainings_in_horizon(c) == 3
    assert tco(costs, c, 100) == pytest.approx(3 * 1.0 + 100 * 12 * costs["per_request_usd"])
    cheap_each = {"one_off_usd": 1.0, "per_request_usd": 1e-6}
    cheap_once = {"one_off_usd": 0.0, "per_request_usd": 1e-5}
    point = break_even(cheap_each, cheap_once, Constraints(horizon_months=10))
    assert point == pytest.approx(1.0 / (9e-6 * 10))
    assert break_even(cheap_once, cheap_each, Constraints()) is None
