"""The report's charts: matplotlib figures (no pyplot, so no global backend is chosen: a
notebook keeps its inline one), rendered into PNG bytes for the report.

Each function takes the report dict and returns (id, title, figure) or None when there is
nothing to draw (e.g. no learning curve with a single train size); `all_charts` renders them to
PNG for the report, `all_figures` hands them to notebooks (bakeoff.api).
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

Report = dict[str, Any]
Chart = tuple[str, str, bytes]  # (id, title, PNG)
Drawn = tuple[str, str, Figure]  # (id, title, matplotlib figure)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _scale(report: Report) -> float:
    return 1.0 if report["metric"] == "bleu" else 100.0


def _axis_label(report: Report) -> str:
    return report["metric"] + ("" if report["metric"] == "bleu" else " (%)")


def quality_vs_cost(report: Report) -> Drawn | None:
    cands = report["candidates"]
    if not cands:
        return None
    k = _scale(report)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    front = set(report["pareto"])
    for c in cands:
        x = c["cost"]["per_request_usd"] * 1e6
        y = c["mean"] * k
        err = [[max(0.0, y - c["ci_low"] * k)], [max(0.0, c["ci_high"] * k - y)]]
        color = "tab:orange" if c["trained"] else "tab:blue"
        ax.errorbar(x, y, yerr=err, fmt="o", color=color, alpha=0.9 if c["name"] in front else 0.4)
        ax.annotate(c["name"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    pts = sorted(
        (c["cost"]["per_request_usd"] * 1e6, c["mean"] * k) for c in cands if c["name"] in front
    )
    if len(pts) > 1:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", color="gray", label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("cost per million requests (USD, log scale)")
    ax.set_ylabel(_axis_label(report))
    ax.set_title("Quality vs cost (blue: prompting, orange: fine-tuned)")
    return "quality-cost", "Quality vs cost per request, with the Pareto front", fig


def learning_curves(report: Report) -> Drawn | None:
    curves = report["learning_curves"]
    lines = [line for line in curves["lines"] if line["points"]]
    if not curves["sizes"] or not lines:
        return None
    k = _scale(report)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    top = max(curves["sizes"])
    for line in lines:
        xs = [p["labels"] for p in line["points"]]
        ys = [p["mean"] * k for p in line["points"]]
        sd = [p["std"] * k for p in line["points"]]
        style = "-o" if line["trained"] else "--s"
        if xs == [0]:  # learns from no labels: a flat reference line
            ax.axhline(ys[0], linestyle=":", color="gray")
            ax.annotate(line["family"], (min(curves["sizes"]), ys[0]), fontsize=7)
            continue
        ax.errorbar(xs, ys, yerr=sd, fmt=style, capsize=3, label=line["family"])
    at = report["crossover"]["at"]
    if at is not None:
        ax.axvline(at, color="red", alpha=0.3)
        ax.annotate("crossover", (at, ax.get_ylim()[0]), color="red", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(curves["sizes"]) / 1.5, top * 1.5)
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(_axis_label(report))
    ax.set_title("Learning curves (mean ± sd over seeds and wordings)")
    ax.legend(fontsize=7)
    return "learning-curves", "Learning curves", fig


def cost_vs_volume(report: Report) -> Drawn | None:
    volume = report["volume"]
    if not volume["lines"]:
        return None
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for line in volume["lines"]:
        ax.plot(volume["volumes"], line["tco"], marker=".", label=line["name"])
    declared = report["constraints"]["requests_per_month"]
    if declared > 0:
        ax.axvline(declared, color="black", linestyle=":", label="your volume")
    for point in volume["break_even"][:4]:
        if point["per_month"] > 0:
            ax.axvline(point["per_month"], color="red", alpha=0.25)
    ax.set_xscale("log")
    ax.set_yscale("log")
    months = report["constraints"]["horizon_months"]
    ax.set_xlabel("requests per month")
    ax.set_ylabel(f"total cost over {months:g} months (USD)")
    ax.set_title("Total cost of ownership vs volume (red: break-even points)")
    ax.legend(fontsize=7)
    return "cost-volume", "Cost vs request volume, with break-even", fig


def confusion_matrices(report: Report) -> Drawn | None:
    mats = report["confusion"]
    if not mats:
        return None
    n = len(mats)
    fig = Figure(figsize=(3.2 * n, 3.4))
    axes = fig.subplots(1, n, squeeze=False)
    for ax, m in zip(axes[0], mats, strict=True):
        ax.imshow(m["matrix"], cmap="Blues")
        ax.set_title(m["candidate"], fontsize=8)
        ax.set_xticks(range(len(m["columns"])), m["columns"], rotation=60, fontsize=6)
        ax.set_yticks(range(len(m["labels"])), m["labels"], fontsize=6)
        if len(m["labels"]) <= 12:
            for i, row in enumerate(m["matrix"]):
                for j, value in enumerate(row):
                    ax.text(j, i, str(value), ha="center", va="center", fontsize=6)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    return "confusion", "Confusion matrices (best candidate of each strategy)", fig


def wording_variance(report: Report) -> Drawn | None:
    groups = report["wording"]
    if not groups:
        return None
    k = _scale(report)
    fig = Figure(figsize=(7.5, 0.5 * len(groups) + 1.5))
    ax = fig.subplots()
    for i, g in enumerate(groups):
        values = [v * k for v in g["by_wording"].values()]
        ax.plot(values, [i] * len(values), "o", alpha=0.7)
        ax.hlines(i, min(values), max(values), color="gray")
    ax.set_yticks(range(len(groups)), [g["candidate"] for g in groups], fontsize=7)
    ax.set_xlabel(_axis_label(report))
    ax.set_title("Prompt-wording variance (one dot per wording)")
    return "wording", "Prompt-wording variance", fig


def training_curves(report: Report) -> Drawn | None:
    curves = report["training_curves"]
    if not curves:
        return None
    fig = Figure(figsize=(9, 3.8))
    loss_ax, val_ax = fig.subplots(1, 2)
    for c in curves:
        steps = [h["step"] for h in c["history"]]
        loss_ax.plot(
            steps, [h["train_loss"] for h in c["history"]], marker=".", label=c["candidate"]
        )
        val_ax.plot(steps, [h["val_metric"] for h in c["history"]], marker=".", label="validation")
        val_ax.plot(steps, [h["train_metric"] for h in c["history"]], ":", alpha=0.6)
    loss_ax.set_title("train loss")
    val_ax.set_title("validation (solid) and train (dotted) metric")
    for ax in (loss_ax, val_ax):
        ax.set_xlabel("optimizer step")
    loss_ax.legend(fontsize=6)
    return "overfitting", "Training curves (overfitting check)", fig


def search_progress(report: Report) -> Drawn | None:
    searches = report["searches"]
    if not searches:
        return None
    fig = Figure(figsize=(7.5, 4.0))
    ax = fig.subplots()
    for s in searches:
        calls = [r["calls"] for r in s["rounds"]]
        ax.plot(calls, [100 * r["score"] for r in s["rounds"]], "-o", label=s["candidate"])
        ax.annotate(f"test {100 * s['test']:.1f}", (calls[-1], 100 * s["rounds"][-1]["score"]))
    ax.set_xlabel("model calls spent")
    ax.set_ylabel("round leader's validation score (%, the task's headline metric)")
    ax.set_title("Prompt search: the leader of each round against the calls spent")
    ax.legend(fontsize=7)
    return "search", "Prompt search progress (validation only; test after the search)", fig


CHARTS = (
    quality_vs_cost,
    learning_curves,
    cost_vs_volume,
    confusion_matrices,
    wording_variance,
    training_curves,
    search_progress,
)


def all_figures(report: Report) -> list[Drawn]:
    """Every chart that has something to show, as an open matplotlib figure."""
    return [drawn for draw in CHARTS if (drawn := draw(report)) is not None]


def all_charts(report: Report) -> list[Chart]:
    return [(name, title, _png(fig)) for name, title, fig in all_figures(report)]
