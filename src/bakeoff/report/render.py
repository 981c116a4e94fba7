"""Write the report three ways: report.json (everything), report.md, report.html (one
self-contained file: charts are inline PNGs, styles inline, nothing loaded from the network)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bakeoff.atomic import write_json_atomic
from bakeoff.report.build import report_paths
from bakeoff.report.plots import all_charts

TEMPLATES = Path(__file__).parent / "templates"


def _pct(metric: str) -> Any:
    def fmt(value: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:.2f}" if metric == "bleu" else f"{100 * value:.1f}"

    return fmt


def render_html(report: dict[str, Any]) -> str:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"])
    )
    charts = [(i, t, base64.b64encode(png).decode()) for i, t, png in all_charts(report)]
    return env.get_template("report.html.j2").render(
        r=report,
        charts=charts,
        pct=_pct(report["metric"]),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def render_markdown(report: dict[str, Any]) -> str:
    pct = _pct(report["metric"])
    rec = report["recommendation"]
    lines = [
        f"# bakeoff: {report['experiment']}",
        "",
        f"Task `{report['task']['name']}` ({report['task']['kind']}), metric {report['metric']} "
        f"on {report['test_rows']} test rows, {len(report['runs'])} runs.",
        "",
    ]
    if report.get("failed"):
        lines += [
            f"**{len(report['failed'])} run(s) failed** and are not in the figures below; "
            "`bakeoff run` again retries them:",
            "",
            *[
                f"- {f['label']}: {' '.join(f['error'].split())} (attempt {f['attempt']})"
                for f in report["failed"]
            ],
            "",
        ]
    lines += [
        f"## Recommendation: {rec['choice']} (confidence: {rec['confidence']})",
        "",
        *[f"- {reason}" for reason in rec["reasons"]],
        "",
        *[f"- **{f['rule']}**: {f['message']}" for f in rec["findings"]],
    ]
    if rec["excluded"]:
        lines += ["", "Excluded by the constraints:", ""]
        lines += [f"- {name}: {why}" for name, why in rec["excluded"].items()]
    if rec["next_steps"]:
        lines += ["", "Next:", "", *[f"- {step}" for step in rec["next_steps"]]]
    lines += [
        "",
        "## Leaderboard",
        "",
        f"| # | candidate | {report['metric']} | ± sd | 95% CI (primary run) | runs | labels | "
        "latency ms | prompt tok | $ / 1M req | training s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(report["candidates"], start=1):
        cost = c["cost"]
        lines.append(
            f"| {i} | {c['name']} | {pct(c['mean'])} | {pct(c['std'])} | "
            f"{pct(c['ci_low'])}–{pct(c['ci_high'])} | {c['n_runs']} | {c['labels_used']} | "
            f"{cost['latency_ms']:.1f} | {cost['prompt_tokens']:.0f} | "
            f"{cost['per_request_usd'] * 1e6:.2f} | {cost['adapt_seconds']:.0f} |"
        )
    if report["paired"]:
        lines += ["", "## Paired tests (leader vs the next)", ""]
        for t in report["paired"]:
            lines.append(
                f"- {t['a']} vs {t['b']}: {pct(t['difference'])} points "
                f"[{pct(t['ci_low'])}, {pct(t['ci_high'])}], {t['test']} p = {t['p']:.3f}"
            )
    lines += [
        "",
        f"Costs: {report['cost_method']['summary']}",
        "",
        f"Machine: {report['machine']}.",
    ]
    lines += ["", f"Crossover: {report['crossover']['summary']}."]
    if report["wording"]:
        lines += ["", "## Prompt-wording variance", ""]
        for g in report["wording"]:
            values = ", ".join(f"w{w} {pct(v)}" for w, v in g["by_wording"].items())
            lines.append(f"- {g['candidate']}: {values} (spread {pct(g['spread'])})")
    for search in report["searches"]:
        lines += [
            "",
            f"## Prompt search: {search['candidate']}",
            "",
            f"Chosen on validation: {search['chosen']} — test {pct(search['test'])} (scored after "
            f"the search). {search['calls']:,} of {search['max_calls']:,} calls, "
            f"{search['seconds']:.0f} s, {search['space_line']}.",
            "",
            f"| round rows | prompts | calls so far | leader | validation {search['metric']} |",
            "|---|---|---|---|---|",
            *[
                f"| {r['rows']} | {r['candidates']} | {r['calls']:,} | {r['leader']} | "
                f"{pct(r['score'])} |"
                for r in search["rounds"]
            ],
        ]
        if search["label_words"]:
            lines += ["", f"Label words scored: {search['label_words']}."]
        confirmation = search["confirmation"]
        lines += ["", f"Confirmation: {confirmation.get('reason') or confirmation.get('skipped')}."]
        if search["runners_up"]:
            others = "; ".join(f"{r['prompt']}: {pct(r['test'])}" for r in search["runners_up"])
            lines += ["", f"The other finalists on test (scored after the choice): {others}."]
    if report["training_curves"]:
        lines += ["", "## Training", ""]
        for t in report["training_curves"]:
            flags = f" **Flagged: {', '.join(t['flags'])}.**" if t["flags"] else ""
            parts = "; ".join(p for p in (t["schedule"], t["stopping"]) if p)
            if parts or flags:
                lines.append(f"- {t['candidate']}: {parts or 'no schedule recorded'}.{flags}")
    lines += model_dependence_lines(report)
    if report.get("history"):
        lines += ["", "## History (bakeoff update)", ""]
        lines += [
            "| version | new rows | drift | champion | old test | new test | challengers | "
            "title after |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for h in report["history"]:
            challengers = "; ".join(challenger_line(c) for c in h["challengers"])
            lines.append(
                f"| v{h['version']} | {h['rows']} | {h['drift']} | {h['champion']} | "
                f"{pct(h['old'])} | {pct(h['new'])} | {challengers or '—'} | {h['holder']} |"
            )
    champion = report["champion"]
    if champion:
        lines += [
            "",
            f"## Champion: {champion['name']}",
            "",
            f"Artifact: `{champion['artifact']}`",
            "",
            *(
                [
                    f"Promoted by `bakeoff update` at data version v{champion['promoted_at']}, "
                    f"in place of the experiment's recommendation ({champion['recommended']}); "
                    "`bakeoff serve` serves it.",
                    "",
                ]
                if champion.get("promoted_at")
                else []
            ),
            "```",
            str(champion["describe"].get("example_prompt", "")),
            "```",
        ]
    return "\n".join(lines) + "\n"


def model_dependence_lines(report: dict[str, Any]) -> list[str]:
    """ "Does it depend on the model?": each recipe on every model, its spread and paired test."""
    dep = report.get("model_dependence")
    if not dep:
        return []
    pct, scale = _pct(report["metric"]), 1 if report["metric"] == "bleu" else 100
    unit = "" if scale == 1 else " pts"
    models = dep["models"]
    lines = [
        "",
        "## Does it depend on the model?",
        "",
        "| strategy | " + " | ".join(models) + " | spread | paired test (best vs worst) |",
        "|---|" + "---|" * (len(models) + 2),
    ]
    for row in dep["rows"]:
        cells = []
        for model in models:
            c = row["by_model"].get(model)
            ci = f"[{pct(c['ci_low'])}, {pct(c['ci_high'])}]" if c else ""
            cells.append(f"{pct(c['mean'])} {ci}" if c else "—")
        verdict = "significant" if row["significant"] else "not significant"
        lines.append(
            f"| {row['recipe']} | " + " | ".join(cells) + f" | {scale * row['spread']:.1f}{unit} | "
            f"{row['test']} p = {row['p']:.3f}, {verdict} |"
        )
    spreads = {"prompting": dep["spread"]["prompting"], "fine-tuning": dep["spread"]["fine_tuning"]}
    means = [f"{k}: {scale * v:.1f}{unit}" for k, v in spreads.items() if v is not None]
    lines += ["", f"Mean spread across models — {'; '.join(means)}."]
    return lines


def challenger_line(c: dict[str, Any]) -> str:
    """`lora n=128 v2 +3.0 pts (41 s), promoted` — a challenger of one update."""
    cost = "" if c["adapt_seconds"] is None else f" ({c['adapt_seconds']:.0f} s)"
    promoted = ", promoted" if c["promoted"] else ""
    return f"{c['name']} {100 * c['new_difference']:+.1f} pts{cost}{promoted}"


def write_report(report: dict[str, Any], folder: Path) -> dict[str, Path]:
    paths = report_paths(folder)
    write_json_atomic(paths["json"], report)
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths
