"""The advisor: one test per decision rule, on hand-made evidence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bakeoff.advisor import (
    Evidence,
    advise,
    over_budget,
    over_latency,
    rule_data,
    rule_evidence,
    rule_maintenance,
    rule_model_dependence,
    rule_task_complexity,
    rule_volume,
    rule_wording,
)
from bakeoff.advisor_prior import Questionnaire, prior_advice
from bakeoff.evaluation.paired import compare_pair
from bakeoff.pricing import Constraints


def cand(
    name: str,
    mean: float,
    *,
    strategy: str = "lora",
    size: int | None = 64,
    latency: float = 50.0,
    one_off: float = 0.01,
    per_request: float = 1e-6,
    family: str | None = None,
) -> dict[str, Any]:
    trained = strategy not in ("zero-shot", "few-shot")
    return {
        "name": name,
        "family": family or name.split(" n=")[0],
        "strategy": strategy,
        "trained": trained,
        "hybrid": "+" in strategy,
        "train_size": size,
        "labels_used": size or 0,
        "mean": mean,
        "std": 0.0,
        "n_runs": 1,
        "ci_low": mean - 0.03,
        "ci_high": mean + 0.03,
        "primary": name,
        "cost": {
            "latency_ms": latency,
            "one_off_usd": one_off,
            "per_request_usd": per_request,
            "adapt_seconds": one_off / 0.1 * 3600,
            "prompt_tokens": 40.0,
        },
    }


def compare_by_gap(threshold: float = 0.05):  # type: ignore[no-untyped-def]
    """A stand-in paired test: significant when the means differ by more than `threshold`."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        diff = a["mean"] - b["mean"]
        return {
            "difference": diff,
            "ci_low": diff - 0.04,
            "ci_high": diff + 0.04,
            "p": 0.01 if abs(diff) > threshold else 0.5,
            "test": "McNemar",
            "significant": abs(diff) > threshold,
        }

    return compare


def evidence(ranked: list[dict[str, Any]], **constraints: Any) -> Evidence:
    ranked = sorted(ranked, key=lambda c: -c["mean"])
    return Evidence("accuracy", ranked, compare_by_gap(), Constraints(**constraints), 500)


def test_latency_target_excludes_slow_candidates() -> None:
    slow = cand("few-shot n=64", 0.9, strategy="few-shot", latency=800)
    fast = cand("lora n=64", 0.8, latency=40)
    ev = evidence([slow, fast], latency_ms=100)
    assert "800 ms" in (over_latency(ev, slow) or "")
    assert over_latency(ev, fast) is None
    rec = advise(ev)
    assert rec.choice == "lora n=64" and "few-shot n=64" in rec.excluded


def test_training_budget_excludes_expensive_training() -> None:
    dear = cand("full n=64", 0.9, strategy="full", one_off=20.0)
    cheap = cand("zero-shot", 0.8, strategy="zero-shot", size=None, one_off=0.0)
    ev = evidence([dear, cheap], training_budget_usd=5)
    assert "exceeds the $5 budget" in (over_budget(ev, dear) or "")
    assert advise(ev).choice == "zero-shot"


def test_tied_candidates_are_decided_by_total_cost() -> None:
    best = cand("few-shot n=64", 0.86, strategy="few-shot", one_off=0.0, per_request=5e-6)
    close = cand("lora n=64", 0.85, one_off=0.02, per_request=1e-6)
    rec = advise(evidence([best, close], requests_per_month=1_000_000))
    assert rec.choice == "lora n=64"  # tied on quality, 5x cheaper per request at this volume
    assert rec.confidence == "weak" and set(rec.tied) == {"few-shot n=64", "lora n=64"}
    assert any("statistically tied" in r for r in rec.reasons)
    # at a tiny volume the one-off training cost dominates and the prompt wins
    assert advise(evidence([best, close], requests_per_month=10)).choice == "few-shot n=64"


def test_evidence_rule_says_too_close_to_call_with_rows_needed() -> None:
    a, b = cand("a", 0.86), cand("b", 0.85)
    ev = evidence([a, b])
    finding = rule_evidence(ev, a, [b])
    assert "too close to call" in finding.message
    assert finding.figures["rows_needed"] > 500  # more rows than the 500 we have
    clear = rule_evidence(ev, a, [cand("c", 0.70)])  # the stand-in test: p = 0.01
    assert "significantly better" in clear.message and "largest p = 0.010" in clear.message


def test_task_complexity_rule_three_verdicts() -> None:
    zero = cand("zero-shot", 0.80, strategy="zero-shot", size=None)
    for best, words in (
        (0.81, "already handles"),
        (0.95, "hard for the base model"),
        (0.86, "moderately"),
    ):
        leader = cand("lora n=64", best)
        finding = rule_task_complexity(evidence([leader, zero]), leader)
        assert finding is not None and words in finding.message
    assert rule_task_complexity(evidence([cand("x", 0.9)]), cand("x", 0.9)) is None


def test_data_rule_rising_vs_flat_learning_curve() -> None:
    rising = [cand("lora n=64", 0.80, size=64), cand("lora n=256", 0.88, size=256)]
    finding = rule_data(evidence(rising), "lora")
    assert finding is not None and "still improves" in finding.message
    assert finding.figures == {"from": 64, "to": 256, "gain": finding.figures["gain"]}
    flat = [cand("lora n=64", 0.870, size=64), cand("lora n=256", 0.875, size=256)]
    finding = rule_data(evidence(flat), "lora")
    assert finding is not None and "flattened" in finding.message
    assert rule_data(evidence([cand("lora n=64", 0.8)]), "lora") is None


def test_volume_rule_reports_break_even_against_cheapest_prompt() -> None:
    tuned = cand("lora n=64", 0.9, one_off=0.12, per_request=1e-6)
    prompt = cand("few-shot n=64", 0.8, strategy="few-shot", one_off=0.0, per_request=3e-6)
    ev = evidence([tuned, prompt], requests_per_month=1000, horizon_months=12)
    finding = rule_volume(ev, tuned, [tuned])
    assert finding is not None
    # 0.12 USD extra / (2e-6 USD saved per request × 12 months) = 5,000 requests a month
    assert abs(finding.figures["break_even_per_month"] - 5000) < 1e-6
    assert "pays for itself" in finding.message


def test_maintenance_rule_counts_retrainings() -> None:
    tuned = cand("lora n=64", 0.9)
    ev = evidence([tuned], horizon_months=12, new_data_every_months=3)
    finding = rule_maintenance(ev, tuned)
    assert finding is not None and finding.figures["adaptations"] == 5
    assert "retraining" in finding.message
    assert rule_maintenance(evidence([tuned]), tuned) is None


def test_wording_rule_flags_large_spread_only() -> None:
    ev = evidence([cand("zero-shot", 0.8, strategy="zero-shot", size=None)])
    ev.wording = [{"candidate": "zero-shot", "by_wording": {0: 0.8, 1: 0.6}, "spread": 0.2}]
    finding = rule_wording(ev)
    assert finding is not None and "20.0 points" in finding.message
    ev.wording = [{"candidate": "zero-shot", "by_wording": {0: 0.8, 1: 0.79}, "spread": 0.01}]
    assert rule_wording(ev) is None


def test_quality_floor_and_no_feasible_candidate() -> None:
    only = cand("lora n=64", 0.7, latency=900)
    rec = advise(evidence([only], latency_ms=100, min_quality=0.8))
    assert rec.choice == "lora n=64"
    assert any("no candidate meets the constraints" in r for r in rec.reasons)
    assert any("floor" in r for r in rec.reasons)


def test_clear_winner_is_strong_and_cites_its_figures() -> None:
    rec = advise(
        evidence([cand("lora n=64", 0.92), cand("zero-shot", 0.7, strategy="zero-shot", size=None)])
    )
    assert rec.choice == "lora n=64" and rec.confidence == "strong"
    assert "92.0%" in rec.reasons[0] and "89.0%–95.0%" in rec.reasons[0]


def test_prior_advice_is_labelled_a_prior() -> None:
    few = prior_advice(Questionnaire(labels=20))
    assert few["basis"] == "prior" and "not a measurement" in few["note"]
    assert few["choice"].startswith("few-shot")
    many = prior_advice(Questionnaire(labels=1000, latency_ms=50))
    assert many["choice"] == "encoder-head"
    gen = prior_advice(Questionnaire(kind="generation", labels=5000))
    assert gen["choice"] == "lora"


def test_a_cheaper_candidate_wins_only_within_the_quality_margin() -> None:
    best = cand("lora n=64", 0.88, one_off=0.02, per_request=5e-6)
    cheap = cand("encoder-head n=64", 0.84, one_off=0.001, per_request=1e-7)
    ev = evidence([best, cheap], requests_per_month=1_000_000)
    ev.compare = compare_by_gap(threshold=0.10)  # a small test split: 4 points not significant
    assert advise(ev).choice == "lora n=64"  # 4 points lower is more than the 2 we accept
    ev.constraints = ev.constraints.model_copy(update={"max_quality_loss": 0.05})
    assert advise(ev).choice == "encoder-head n=64"


def _paired_compare(correct: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    """The real paired tests (McNemar + bootstrap) on per-row correctness vectors."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        x, y = correct[a["name"]], correct[b["name"]]
        result = compare_pair(
            lambda idx: float(x[idx].mean()), lambda idx: float(y[idx].mean()), len(x), x, y
        )
        p = result.mcnemar_p if result.mcnemar_p is not None else result.p_value
        return {**result.as_dict(), "p": p, "test": "McNemar", "significant": p < 0.05}

    return compare


@pytest.mark.parametrize("seed", range(60))
def test_property_the_wording_never_contradicts_the_paired_tests(seed: int) -> None:
    """Random candidates — identical ones, coin-flip models, small and large test splits,
    tight and loose margins: "significant" / "strong" appear only when every paired test of
    the leader against the others that was run gives p < 0.05."""
    rng = np.random.default_rng(seed)
    rows = int(rng.choice([30, 60, 200, 800]))
    base = rng.random(rows) < rng.uniform(0.5, 0.95)
    correct: dict[str, np.ndarray] = {}
    for i in range(int(rng.integers(2, 6))):
        kind = rng.choice(["identical", "coin", "noisy", "better"])
        if kind == "identical":
            vec = base.copy()
        elif kind == "coin":
            vec = rng.random(rows) < 0.5
        elif kind == "noisy":
            vec = np.where(rng.random(rows) < 0.1, ~base, base)
        else:
            vec = base | (rng.random(rows) < 0.3)
        correct[f"c{i}"] = vec
    cands = [
        cand(name, float(v.mean()), one_off=float(rng.uniform(0, 1))) for name, v in correct.items()
    ]
    compare = _paired_compare(correct)
    margin = float(rng.choice([0.0, 0.02, 0.1]))
    ranked = sorted(cands, key=lambda c: -c["mean"])
    ev = Evidence("accuracy", ranked, compare, Constraints(max_quality_loss=margin), rows)
    rec = advise(ev)
    leader = ranked[0]
    tests = [compare(leader, c) for c in ranked[1:]]
    all_significant = all(t["p"] < 0.05 for t in tests)
    text = " ".join([*rec.reasons, *(f.message for f in rec.findings)])
    if "significantly better" in text or rec.confidence == "strong":
        assert all_significant, (text, [t["p"] for t in tests])
    if not all_significant:
        assert rec.confidence == "weak" and "significantly better" not in text
        assert "not significant" in text


def test_the_reported_overstatement_is_gone() -> None:
    """30 test rows, 90.0% vs 86.7%: McNemar p = 1.0 — more than the 2-point margin apart but
    not significant; it used to read "significantly better (p < 0.05)", confidence strong."""
    a = np.array([True] * 27 + [False] * 3)
    b = np.array([True] * 26 + [False] * 4)
    correct = {"a": a, "b": b}
    ranked = [cand("a", 0.9), cand("b", 26 / 30)]
    ev = Evidence("accuracy", ranked, _paired_compare(correct), Constraints(), 30)
    rec = advise(ev)
    text = " ".join(f.message for f in rec.findings)
    assert rec.choice == "a" and rec.confidence == "weak"
    assert "significantly better" not in text and "p = 1.00" in text


def test_a_flagged_training_is_named_in_the_findings() -> None:
    collapsed = {**cand("lora n=64", 0.9), "flags": ["collapsed", "overfitting"]}
    rec = advise(evidence([collapsed, cand("zero-shot", 0.6, strategy="zero-shot", size=None)]))
    flagged = next(f for f in rec.findings if f.rule == "training flags")
    assert rec.choice == "lora n=64" and flagged.figures["flags"] == ["collapsed"]
    assert "predicts one class" in flagged.message
    healthy = advise(evidence([cand("lora n=64", 0.9)]))
    assert all(f.rule != "training flags" for f in healthy.findings)


def test_chance_level_is_never_called_handling_the_task() -> None:
    """Gemma 3 270M base on 40 SST-2 rows scored 50.0% zero-shot (CI 35–65) and the advisor
    said it "already handles this task" with strong confidence; against the majority-class
    baseline it now says the opposite, and a lone candidate never gets "strong"."""
    zero = cand("zero-shot", 0.50, strategy="zero-shot", size=None)
    zero["ci_low"], zero["ci_high"] = 0.35, 0.65
    ev = Evidence("accuracy", [zero], compare_by_gap(), Constraints(), 40, baseline=0.5)
    finding = rule_task_complexity(ev, zero)
    assert finding is not None and "does not do this task" in finding.message
    assert "already handles" not in finding.message
    rec = advise(ev)
    assert rec.confidence == "weak"
    assert any("not above the majority-class baseline (50.0%)" in r for r in rec.reasons)
    assert any("measure another candidate" in step for step in rec.next_steps)

    # a zero-shot clearly above the baseline, beside a clearly better leader: as before
    good = cand("zero-shot", 0.80, strategy="zero-shot", size=None)
    best = cand("lora n=64", 0.95)
    ev = Evidence("accuracy", [best, good], compare_by_gap(), Constraints(), 500, baseline=0.5)
    finding = rule_task_complexity(ev, best)
    assert finding is not None and "hard for the base model" in finding.message
    assert advise(ev).confidence == "strong"


def _dependence(rows: list[tuple[str, bool, float, bool]]) -> dict[str, Any]:
    """(recipe, trained, spread, significant) rows, as analysis/models.py builds them."""
    table = [
        {"recipe": r, "trained": t, "spread": s, "significant": sig, "best_model": "big"}
        for r, t, s, sig in rows
    ]

    def mean(trained: bool) -> float | None:
        spreads = [row["spread"] for row in table if row["trained"] == trained]
        return sum(spreads) / len(spreads) if spreads else None

    return {
        "models": ["big", "small"],
        "rows": table,
        "spread": {"prompting": mean(False), "fine_tuning": mean(True)},
    }


def test_model_dependence_is_stated_only_as_far_as_the_tests_go() -> None:
    ranked = [cand("lora n=64", 0.9)]
    alone = rule_model_dependence(evidence(ranked))
    assert alone.message.startswith("not measured: one model")

    ev = evidence(ranked)
    ev.model_dependence = _dependence(
        [("zero-shot", False, 0.20, True), ("few-shot n=64", False, 0.10, False),
         ("lora n=64", True, 0.02, False)]
    )  # fmt: skip
    finding = rule_model_dependence(ev)
    assert "prompting moves by 15.0 points" in finding.message
    assert "fine-tuning moves by 2.0 points" in finding.message
    assert "separates the models for zero-shot (best on big)" in finding.message
    assert "prompting depends on the model more than fine-tuning does" in finding.message

    ev.model_dependence = _dependence(
        [("zero-shot", False, 0.04, False), ("lora n=64", True, 0.01, False)]
    )
    finding = rule_model_dependence(ev)
    assert "dependence on the model is not shown" in finding.message
    assert "more than" not in finding.message  # a larger spread alone is not evidence


def test_a_lone_zero_shot_is_not_said_to_handle_the_task() -> None:
    """squad-json zero-shot alone (18.2% field F1) was "already handles this task"."""
    zero = cand("zero-shot", 0.182, strategy="zero-shot", size=None)
    ev = Evidence("field_f1", [zero], compare_by_gap(), Constraints(), 12)
    finding = rule_task_complexity(ev, zero)
    assert finding is not None and finding.message.startswith("not measured")
