"""The llama.cpp backend on the bundled SmolLM2 GGUF: scores, chat template, generation, and a
zero-shot + few-shot bake-off through `bakeoff run`, agreeing with the transformers backend."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.errors import BakeoffError
from bakeoff.models.backends import BackendOptions, load_model
from bakeoff.models.base import ScoreRequest
from tests.conftest import (
    SST2_PROMPT_RUN,
    confident_disagreements,
    majority_rate,
    prediction_agreement,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair() -> tuple[Any, Any]:
    return (
        load_model("llama.cpp:smollm2-135m-instruct", BackendOptions(threads=2, context=2048)),
        load_model("smollm2-135m-instruct", BackendOptions(precision="fp32")),
    )


def test_scores_match_transformers_on_the_same_weights(pair: tuple[Any, Any]) -> None:
    lc, hf = pair
    assert lc.n_parameters == hf.n_parameters
    options = (" positive", " negative", " rather positive")  # the last has several tokens
    requests = [
        ScoreRequest("Review: a great fun film\nSentiment:", options),
        ScoreRequest("Review: boring and far too long\nSentiment:", options),
        ScoreRequest("Review: a great fun film\nSentiment:", options),  # fully cached prompt
    ]
    ours, theirs = lc.score(requests), hf.score(requests)
    for a, b in zip(ours, theirs, strict=True):
        assert a.n_tokens == b.n_tokens and a.prompt_tokens == b.prompt_tokens
        # llama.cpp quantises activations to int8 for the Q4_1 dot products; transformers runs
        # the dequantised weights in fp32. Observed (AMD EPYC) |Δ| 0.12–0.30 nats on these 9
        # option scores (the worst: the 3-token option); the old 0.3 sat at 99% of that. llama.cpp
        # is built with fixed flags (same kernels on any AVX2 CPU), so 0.5 (1.7x) is the bound;
        # a wrong token or template shifts scores by whole nats.
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.5)
    assert ours[0].logprobs == ours[2].logprobs  # one process, same prompt: bit-exact
    # the labels are right with room: observed margins 2.4 and 3.4 nats
    assert ours[0].logprobs[0] > ours[0].logprobs[1] and ours[1].logprobs[1] > ours[1].logprobs[0]


def test_many_rows_per_decode_agree_with_one_row_at_a_time(pair: tuple[Any, Any]) -> None:
    lc, hf = pair
    options = (" positive", " negative", " rather positive", " not very good at all")
    texts = ["a great fun film", "boring and far too long", "meh", "a wonderful, moving film"]
    requests = [ScoreRequest(f"Classify it.\nReview: {t}\nSentiment:", options) for t in texts * 3]
    together = lc.score(requests)
    lc.parallel = False
    try:
        alone = lc.score(requests)
    finally:
        lc.parallel = True
    reference = hf.score(requests)
    for a, b, c in zip(together, alone, reference, strict=True):
        assert a.n_tokens == b.n_tokens == c.n_tokens
        # llama.cpp's quantised kernels round differently by batch shape: observed (AMD EPYC)
        # |Δ| ≤ 0.43 nats between the two layouts and ≤ 0.23 against transformers fp32; a token
        # attending to the wrong cells shifts scores by whole nats
        assert a.logprobs == pytest.approx(c.logprobs, abs=0.5)
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.75)
    assert [r.logprobs.index(max(r.logprobs)) for r in together] == [
        r.logprobs.index(max(r.logprobs)) for r in alone
    ]


def test_rows_too_wide_for_one_decode_go_one_at_a_time(pair: tuple[Any, Any]) -> None:
    lc, _ = pair
    options = tuple(f" option number {i}" for i in range(40))  # 40 multi-token options > 31
    requests = [ScoreRequest(f"Pick one.\nItem: {t}\nAnswer:", options) for t in ("a", "b")]
    results = lc.score(requests)
    assert all(len(r.logprobs) == 40 for r in results)
    lc.parallel = False
    try:
        assert [r.logprobs for r in lc.score(requests)] == [r.logprobs for r in results]
    finally:
        lc.parallel = True


def test_chat_template_and_generation(pair: tuple[Any, Any]) -> None:
    lc, hf = pair
    messages = [{"role": "user", "content": "Name a colour."}]
    assert lc.has_chat_template and lc.render_chat(messages) == hf.render_chat(messages)
    out = lc.generate(["The capital of France is"], max_new_tokens=6, stop=["\n", "."])
    assert "Paris" in out[0].text and 0 < out[0].output_tokens <= 6


def test_bakeoff_run_through_llamacpp(tmp_path: Path) -> None:
    args = [*SST2_PROMPT_RUN, "--threads", "2"]
    result = CliRunner().invoke(
        app, [*args, "--model", "llama.cpp:smollm2-135m-instruct", "--out", str(tmp_path / "lc")]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    lc = json.loads((tmp_path / "lc/results.json").read_text())["runs"]
    hf = json.loads((tmp_path / "hf/results.json").read_text())["runs"]
    # 40 rows (20/20): 95% CI about ±10 points at 0.9. Observed (AMD EPYC): zero-shot 36/40
    # through both backends. Bound: 10 points over always-majority (≥ 24/40), a 12-row margin;
    # 6 correct rows sit within 0.08 of a tie.
    majority = majority_rate(lc[0])
    assert lc[0]["metrics"]["accuracy"]["value"] >= majority + 0.1, (lc[0]["metrics"], majority)
    # few-shot accuracy depends on the 4 demos drawn (4-shot SmolLM2 mostly copies the last
    # demo's label: 21/40 here, 39 of 40 answers "positive"): compare outputs, not accuracy.
    # Observed: 40/40 same labels in both runs, worst |Δp| 0.084 (zero-shot) and 0.03; the
    # transformers side is bf16 here and fp32 on CPUs without bf16 (|Δp| ≤ 0.03 more). Only rows
    # within ~0.11 of a tie can differ (7 of 40 at most here): so ≥ 0.8 agreement (≤ 8 rows), and
    # no row where both backends are sure (> 0.7: 0.2 from a tie, 2.4x the worst |Δp|) may differ.
    assert all(share >= 0.8 for share in prediction_agreement(lc, hf))
    assert confident_disagreements(lc, hf, margin=0.2) == [0, 0]


def test_f16_reencoding_is_made_once_and_scores_as_transformers_fp32(
    pair: tuple[Any, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _, hf = pair
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path))
    options = BackendOptions(threads=2, context=2048)
    capfd.readouterr()
    f16 = load_model("llama.cpp:smollm2-135m-instruct:f16", options)
    console = capfd.readouterr()
    assert console.out == "" and "llama_model" not in console.err  # no per-tensor log
    made = Path(f16.llm.model_path)
    assert made.parent == tmp_path / "models"
    assert re.fullmatch(r"SmolLM2-135M-Instruct\.Q4_1-f16-[0-9a-f]{12}\.gguf", made.name)
    assert f16.llm.metadata["general.file_type"] == "1"  # LLAMA_FTYPE_MOSTLY_F16
    assert f16.n_parameters == hf.n_parameters
    stamp = made.stat().st_mtime_ns
    again = load_model("llama.cpp:smollm2-135m-instruct:F16", options)
    assert Path(again.llm.model_path) == made and made.stat().st_mtime_ns == stamp  # cached
    assert [p.name for p in made.parent.iterdir() if p.name.startswith(".tmp-")] == []
    # the F16 weights are the Q4_1 weights dequantised, what transformers computes with, and no
    # activation is quantised (Q4_1's dot products round them to int8: |Δ| up to 0.3 nats,
    # above). Observed (AMD EPYC) |Δ| ≤ 0.008 nats on these 9 scores; bound 0.05 (6x), far
    # below a wrong token's whole nats.
    options_text = (" positive", " negative", " rather positive")
    requests = [
        ScoreRequest("Review: a great fun film\nSentiment:", options_text),
        ScoreRequest("Review: boring and far too long\nSentiment:", options_text),
        ScoreRequest("Review: it is a film\nSentiment:", options_text),
    ]
    for a, b in zip(f16.score(requests), hf.score(requests), strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.05)


def test_a_file_llamacpp_cannot_reencode_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAKEOFF_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 60)
    expected = r"broken\.gguf: llama\.cpp could not re-encode it as q8_0"
    with pytest.raises(BakeoffError, match=expected):
        load_model(f"llama.cpp:{broken}:q8_0", BackendOptions(threads=2, context=2048))
    assert list((tmp_path / "cache" / "models").iterdir()) == []  # no half file, no temp folder
