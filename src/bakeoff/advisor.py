"""The recommendation: which candidate to ship, why, how sure we are, and what to run next.

It rests on measurements only (the candidates' quality, paired tests, learning curves and
costs) weighed against the user's declared constraints. Each rule is a small function that
reads the evidence and says one thing with the figures it rests on; `advise` combines them:

1. drop candidates that break a hard constraint (latency target, training budget);
2. the leader is the best remaining candidate by mean quality;
3. candidates the paired test cannot separate from the leader, and no more than
   `max_quality_loss` below it, are tied with it;
4. among the tied, the lowest total cost of ownership at the declared volume wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakeoff.cost.tco import break_even, tco, trainings_in_horizon
from bakeoff.pricing import Constraints

Candidate = dict[str, Any]  # from analysis.compare.candidates, plus "cost"
Compare = Callable[[Candidate, Candidate], dict[str, Any]]  # paired test of a vs b


@dataclass
class Evidence:
    metric: str
    ranked: list[Candidate]  # best mean first
    compare: Compare
    constraints: Constraints
    test_rows: int
    sizes: list[int] = field(default_factory=list)
    wording: list[dict[str, Any]] = field(default_factory=list)
    baseline: float | None = None  # always answering the test rows' majority class (accuracy)
    model_dependence: dict[str, Any] | None = None  # analysis/models.py; None: one model

    def above_baseline(self, candidate: Candidate) -> bool:
        """Its primary run's CI lies above the majority-class baseline (True without one)."""
        return self.baseline is None or candidate["ci_low"] > self.baseline

    def fmt(self, value: float) -> str:
        return f"{value:.2f}" if self.metric == "bleu" else f"{100 * value:.1f}%"

    def points(self, value: float) -> str:
        return f"{value:.2f}" if self.metric == "bleu" else f"{100 * value:.1f} points"


@dataclass
class Finding:
    rule: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recommendation:
    choice: str | None
    confidence: str  # strong | moderate | weak | none
    reasons: list[str]
    findings: list[Finding]
    next_steps: list[str]
    excluded: dict[str, str]
    tied: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "choice": self.choice,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "findings": [f.__dict__ for f in self.findings],
            "next_steps": self.next_steps,
            "excluded": self.excluded,
            "tied": self.tied,
            "basis": "measured",
        }


# --- hard constraints -----------------------------------------------------------------------


def over_latency(ev: Evidence, c: Candidate) -> str | None:
    target = ev.constraints.latency_ms
    latency = c["cost"]["latency_ms"]
    if target is not None and latency > target:
        return f"latency {latency:.0f} ms per request exceeds the {target:g} ms target"
    return None


def over_budget(ev: Evidence, c: Candidate) -> str | None:
    budget = ev.constraints.training_budget_usd
    cost = c["cost"]["one_off_usd"]
    if budget is not None and cost > budget:
        return f"training cost ${cost:.4f} exceeds the ${budget:g} budget"
    return None


HARD_RULES = (over_latency, over_budget)


# --- findings ---------------------------------------------------------------------------------


def rule_evidence(ev: Evidence, leader: Candidate, others: list[Candidate]) -> Finding:
    """Is the leader separable from the others? Says "significant" only where the paired test
    that was run says so; otherwise names the closest unseparated candidate and how many test
    rows would separate a difference of that size."""
    tests = [ev.compare(leader, c) for c in others]
    if not others:
        return Finding("evidence", f"{leader['name']} is the only feasible candidate.", {})
    unseparated = [(c, t) for c, t in zip(others, tests, strict=True) if not t["significant"]]
    if not unseparated:
        worst = max(t["p"] for t in tests)
        return Finding(
            "evidence",
            f"{leader['name']} is significantly better than every other feasible candidate "
            f"(paired tests of the primary runs, largest p = {worst:.3f} < 0.05, "
            f"{ev.test_rows} test rows).",
            {"test_rows": ev.test_rows, "largest_p": worst},
        )
    other, test = unseparated[0]  # the best-ranked candidate the test cannot separate
    diff = abs(test["difference"])
    half_width = (test["ci_high"] - test["ci_low"]) / 2
    needed = ev.test_rows * (half_width / diff) ** 2 if diff > 0 else float("inf")
    more = (
        f"about {needed:,.0f} test rows would separate a difference this size"
        if needed != float("inf")
        else "the two are identical on these rows"
    )
    return Finding(
        "evidence",
        f"too close to call (not significant): {leader['name']} and {other['name']} differ by "
        f"{ev.points(test['difference'])} (95% CI {ev.points(test['ci_low'])} to "
        f"{ev.points(test['ci_high'])}, {test['test']} p = {test['p']:.2f}); {more}.",
        {
            "difference": test["difference"],
            "p": test["p"],
            "rows_needed": needed,
            "unseparated": [c["name"] for c, _ in unseparated],
        },
    )


def rule_task_complexity(ev: Evidence, leader: Candidate) -> Finding | None:
    """How far zero-shot is from the best: small gap = prompting suffices, big = hard task."""
    zero = [c for c in ev.ranked if not c["trained"] and c["train_size"] is None]
    if not zero:
        return None
    gap = leader["mean"] - zero[0]["mean"]
    figures = {"zero_shot": zero[0]["mean"], "best": leader["mean"], "gap": gap}
    if not ev.above_baseline(zero[0]):
        assert ev.baseline is not None
        figures["baseline"] = ev.baseline
        message = (
            f"the base model does not do this task as prompted: zero-shot {ev.fmt(zero[0]['mean'])}"
            f" (95% CI {ev.fmt(zero[0]['ci_low'])}–{ev.fmt(zero[0]['ci_high'])}) is not above "
            f"always answering the majority class ({ev.fmt(ev.baseline)})."
        )
    elif len(ev.ranked) == 1:  # nothing adapted to compare it with: no gap to speak of
        message = (
            f"not measured: zero-shot ({ev.fmt(zero[0]['mean'])}) is the only candidate, so "
            "there is no adapted one to compare it with."
        )
    elif gap <= 0.02:
        message = (
            f"the base model already handles this task: zero-shot reaches "
            f"{ev.fmt(zero[0]['mean'])}, within {ev.points(gap)} of the best."
        )
    elif gap >= 0.10:
        message = (
            f"the task is hard for the base model as prompted: zero-shot {ev.fmt(zero[0]['mean'])}"
            f" vs {ev.fmt(leader['mean'])} for {leader['name']} (+{ev.points(gap)})."
        )
    else:
        message = (
            f"adaptation helps moderately: zero-shot {ev.fmt(zero[0]['mean'])} vs "
            f"{ev.fmt(leader['mean'])} (+{ev.points(gap)})."
        )
    return Finding("task complexity", message, figures)


def rule_model_dependence(ev: Evidence) -> Finding:
    """How much each kind of adaptation moves between models, and whether the paired tests
    separate the models; "not measured" with one model."""
    dep = ev.model_dependence
    if dep is None:
        return Finding(
            "model dependence",
            "not measured: one model in this experiment — list two or more under `models:` to "
            "see whether prompting depends on the model more than fine-tuning does.",
            {},
        )
    prompting, tuning = dep["spread"]["prompting"], dep["spread"]["fine_tuning"]
    parts = [
        f"{kind} moves by {ev.points(spread)} between {' and '.join(dep['models'])} (mean over "
        f"its strategies)"
        for kind, spread in (("prompting", prompting), ("fine-tuning", tuning))
        if spread is not None
    ]
    separated = [r for r in dep["rows"] if r["significant"]]
    if not separated:
        verdict = "no difference between the models is significant on these test rows, so a "
        verdict += "dependence on the model is not shown"
    else:
        named = ", ".join(f"{r['recipe']} (best on {r['best_model']})" for r in separated[:4])
        verdict = f"the paired test separates the models for {named}"
        prompt_separated = any(not r["trained"] for r in separated)
        if prompting is not None and tuning is not None and prompt_separated:
            verdict += (
                "; prompting depends on the model more than fine-tuning does"
                if prompting > tuning
                else "; fine-tuning depends on the model as much as prompting or more"
            )
    figures = {"prompting_spread": prompting, "fine_tuning_spread": tuning}
    figures["separated"] = [r["recipe"] for r in separated]
    return Finding("model dependence", "; ".join(parts) + f" — {verdict}.", figures)


def rule_data(ev: Evidence, family: str) -> Finding | None:
    """Whether the chosen family's learning curve still rises at the largest size measured."""
    points = sorted((c["labels_used"], c["mean"]) for c in ev.ranked if c["family"] == family)
    if len(points) < 2:
        return None
    (n1, v1), (n2, v2) = points[-2], points[-1]
    gain = v2 - v1
    figures = {"from": n1, "to": n2, "gain": gain}
    if gain > 0.02:
        return Finding(
            "data availability",
            f"{family} still improves with more labels: {ev.fmt(v1)} at {n1} → {ev.fmt(v2)} at "
            f"{n2} (+{ev.points(gain)}); more labelled data is likely to pay off.",
            figures,
        )
    return Finding(
        "data availability",
        f"{family}'s learning curve has flattened: {ev.fmt(v1)} at {n1} → {ev.fmt(v2)} at {n2} "
        f"labels ({ev.points(gain)}); more labels of the same kind will add little.",
        figures,
    )


def rule_volume(ev: Evidence, choice: Candidate, tied: list[Candidate]) -> Finding | None:
    """Cost over the horizon at the declared volume, and where the ranking of cost flips."""
    c = ev.constraints
    volume = c.requests_per_month
    rivals = [t for t in tied if t is not choice]
    cheapest_prompt = min(
        (x for x in ev.ranked if not x["trained"]),
        key=lambda x: x["cost"]["per_request_usd"],
        default=None,
    )
    lines = [
        f"at {volume:,.0f} requests/month over {c.horizon_months:g} months, {choice['name']} "
        f"costs ${tco(choice['cost'], c, volume):,.2f} in total "
        f"(${choice['cost']['per_request_usd'] * 1e6:,.2f} per million requests, "
        f"${choice['cost']['one_off_usd']:.4f} per training)"
    ]
    figures: dict[str, Any] = {"tco_usd": tco(choice["cost"], c, volume)}
    for rival in rivals[:2]:
        lines.append(f"{rival['name']} would cost ${tco(rival['cost'], c, volume):,.2f}")
    if choice["trained"] and cheapest_prompt is not None:
        point = break_even(choice["cost"], cheapest_prompt["cost"], c)
        figures["break_even_per_month"] = point
        if point is not None:
            lines.append(
                f"its training pays for itself against {cheapest_prompt['name']} above "
                f"{point:,.0f} requests/month"
            )
        else:
            lines.append(
                f"it costs more per request than {cheapest_prompt['name']}, so its training "
                "never pays for itself in money: it is chosen for quality"
            )
    return Finding("request volume", "; ".join(lines) + ".", figures)


def rule_maintenance(ev: Evidence, choice: Candidate) -> Finding | None:
    """What new data costs: fine-tuned candidates retrain, prompts only re-select demos."""
    every = ev.constraints.new_data_every_months
    if every is None:
        return None
    n = trainings_in_horizon(ev.constraints)
    seconds = choice["cost"]["adapt_seconds"] * n
    if choice["trained"]:
        kind = "retraining"
    elif choice["train_size"] is not None:  # a prompt with demos from the labels
        kind = "re-selecting demos and re-checking"
    else:
        kind = "re-checking"
    return Finding(
        "maintenance",
        f"new data every {every:g} months means {n} adaptations over the horizon: {kind} "
        f"{choice['name']} costs {seconds / 60:.1f} minutes of compute in all, plus a "
        "regression check against the current champion each time.",
        {"adaptations": n, "compute_seconds": seconds},
    )


def rule_wording(ev: Evidence) -> Finding | None:
    """Prompt wording alone moves quality: say how much, so nobody trusts one wording."""
    if not ev.wording:
        return None
    worst = ev.wording[0]
    if worst["spread"] < 0.02:
        return None
    return Finding(
        "prompt sensitivity",
        f"wording alone moves {worst['candidate']} by {ev.points(worst['spread'])} "
        f"({', '.join(f'w{w}: {ev.fmt(v)}' for w, v in worst['by_wording'].items())}); "
        "prompted candidates are scored as the mean over wordings.",
        {"spread": worst["spread"]},
    )


def rule_search(ev: Evidence) -> Finding | None:
    """What the prompt search bought over the task's own wording, zero-shot (primary runs,
    paired test: "significant" only where that test says so)."""
    searched = [c for c in ev.ranked if c.get("searched")]
    plain = [
        c
        for c in ev.ranked
        if not c["trained"] and c["train_size"] is None and not c.get("searched")
    ]
    if not searched or not plain:
        return None
    best, base = searched[0], plain[0]
    test = ev.compare(best, base)
    verdict = (
        f"significant, {test['test']} p = {test['p']:.3f}"
        if test["significant"]
        else f"not significant, {test['test']} p = {test['p']:.2f}"
    )
    return Finding(
        "prompt search",
        f"the searched prompt of {best['name']} scores {ev.points(abs(test['difference']))} "
        f"{'above' if test['difference'] >= 0 else 'below'} {base['name']} with the task's own "
        f"wording (primary runs, 95% CI {ev.points(test['ci_low'])} to "
        f"{ev.points(test['ci_high'])}; {verdict}); the search chose on validation only.",
        {"difference": test["difference"], "p": test["p"], "significant": test["significant"]},
    )


FLAG_MEANINGS = {
    "collapsed": "predicts one class for every validation row",
    "diverging": "its train loss rose evaluation after evaluation",
    "no-gain": "training never beat the starting weights on validation",
    "flat-validation": "its validation score never moved, so nothing chose when to stop",
}


def rule_training_flags(ev: Evidence, choice: Candidate) -> Finding | None:
    """The chosen candidate's training went wrong in a way its test score may not show."""
    flags = [f for f in choice.get("flags", []) if f in FLAG_MEANINGS]
    if not flags:
        return None
    what = "; ".join(f"{f} — {FLAG_MEANINGS[f]}" for f in flags)
    return Finding(
        "training flags",
        f"{choice['name']} was flagged in training ({what}) in at least one of its runs: "
        "read its training curve before shipping it.",
        {"flags": flags},
    )


# --- the decision ---------------------------------------------------------------------------


def advise(ev: Evidence) -> Recommendation:
    if not ev.ranked:
        return Recommendation(
            None, "none", ["no finished runs yet"], [], ["run the experiment"], {}, []
        )
    excluded = {}
    for c in ev.ranked:
        why = next((r for rule in HARD_RULES if (r := rule(ev, c))), None)
        if why:
            excluded[c["name"]] = why
    feasible = [c for c in ev.ranked if c["name"] not in excluded]
    reasons, next_steps = [], []
    if not feasible:
        reasons.append("no candidate meets the constraints; showing the best regardless")
        next_steps.append("relax the latency target or training budget, or try a smaller model")
        feasible = list(ev.ranked)
    leader = feasible[0]
    margin = ev.constraints.max_quality_loss  # quality you would trade for cost
    tied = [leader] + [
        c
        for c in feasible[1:]
        if leader["mean"] - c["mean"] <= margin and not ev.compare(leader, c)["significant"]
    ]
    choice = min(
        tied, key=lambda c: tco(c["cost"], ev.constraints, ev.constraints.requests_per_month)
    )

    reasons.append(
        f"{choice['name']}: {ev.metric} {ev.fmt(choice['mean'])} (mean of {choice['n_runs']} "
        f"run(s); primary run 95% CI {ev.fmt(choice['ci_low'])}–{ev.fmt(choice['ci_high'])})."
    )
    if choice is not leader:
        test = ev.compare(leader, choice)
        reasons.append(
            f"statistically tied with the leader {leader['name']} ({ev.fmt(leader['mean'])}; "
            f"paired test of their primary runs: {'+' if test['difference'] <= 0 else ''}"
            f"{ev.points(-test['difference'])} for "
            f"{choice['name']}, p = {test['p']:.2f}) and cheaper to own at the declared volume."
        )
    learned = ev.above_baseline(choice)
    if not learned:
        assert ev.baseline is not None
        reasons.append(
            f"not above the majority-class baseline ({ev.fmt(ev.baseline)}): its 95% CI reaches "
            "down to it, so it is not shown to have learned the task."
        )
        next_steps.append("more labelled rows, another strategy or a larger model")
    floor = ev.constraints.min_quality
    if floor is not None and choice["mean"] < floor:
        reasons.append(f"below the required {ev.fmt(floor)}: no candidate meets the floor.")
        next_steps.append("try a larger model or more labelled data; the floor is not met")

    findings = [
        f
        for f in (
            rule_evidence(ev, leader, feasible[1:]),
            rule_task_complexity(ev, leader),
            rule_data(ev, choice["family"]),
            rule_volume(ev, choice, tied),
            rule_maintenance(ev, choice),
            rule_wording(ev),
            rule_search(ev),
            rule_training_flags(ev, choice),
            rule_model_dependence(ev),
        )
        if f is not None
    ]
    by_rule = {f.rule: f for f in findings}
    unseparated = by_rule["evidence"].figures.get("unseparated", [])
    if len(feasible) == 1:  # nothing it was compared with: no grounds for confidence
        confidence = "weak"
        next_steps.append("measure another candidate (zero-shot costs no labels) to compare")
    elif len(tied) > 1 or unseparated:  # "strong" only with a significant paired test
        confidence = "weak"
        close = [leader["name"], *unseparated] if unseparated else [c["name"] for c in tied]
        next_steps.append(f"add test rows or seeds to separate {', '.join(close[:3])}")
    elif feasible[1:] and leader["mean"] - feasible[1]["mean"] < 0.02:
        confidence = "moderate"
    else:
        confidence = "strong"
    if not learned:
        confidence = "weak"
    data = by_rule.get("data availability")
    if data and data.figures["gain"] > 0.02:
        next_steps.append(f"label more data: run train size {2 * data.figures['to']}")
    if not any(c["hybrid"] for c in ev.ranked):
        next_steps.append("try a hybrid (lora+few-shot) to combine both")
    if by_rule.get("prompt sensitivity") and not any(c.get("searched") for c in ev.ranked):
        next_steps.append(
            "search prompts on the validation split before shipping one (prompt-search)"
        )
    return Recommendation(
        choice["name"],
        confidence,
        reasons,
        findings,
        next_steps,
        excluded,
        [c["name"] for c in tied],
    )
