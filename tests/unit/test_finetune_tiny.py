"""Every causal fine-tuning method through `bakeoff run` and `bakeoff predict` on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from tests.unit.test_cli_run import make_task


@pytest.mark.parametrize("strategy", ["lora", "lora+few-shot", "full", "prompt-tuning"])
def test_method_trains_saves_and_reloads(
    tmp_path: Path, tiny_model_dir: Path, strategy: str
) -> None:
    task = make_task(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task",
            str(task),
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--strategy",
            strategy,
            "--shots",
            "2",
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
            "--eval-rows",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    run = json.loads((out / "results.json").read_text())["runs"][0]
    training = run["training"]
    assert training["steps"] == 4 and [h["step"] for h in training["history"]] == [0, 2, 4]
    schedule = training["schedule"]  # what the run trained on, and why
    assert schedule["steps"] == 4 and schedule["reasons"]["steps"] == "max_steps, set by you"
    assert schedule["lr"] == 0.01 and schedule["reasons"]["eval_rows"] == "set by you"
    assert training["tokens"] > 0 and training["flops"] > 0 and training["tokens_per_second"] > 0
    assert 0 < training["trainable_parameters"] <= training["parameters"]
    if strategy != "full":  # adapters only: on this tiny model rank-8 LoRA on every linear
        # layer is 40% of the base (8,192 of 20,256), on SmolLM2 1.8%
        assert training["trainable_parameters"] < training["parameters"] / 2
    if strategy.startswith("lora"):  # classification: every linear layer
        assert training["adapted"].startswith("all-linear (auto: every linear layer")
    artifact = Path(run["artifact"])
    weights = (
        "model/model.safetensors" if strategy == "full" else "adapter/adapter_model.safetensors"
    )
    assert (artifact / weights).exists() and (artifact / "manifest.json").exists()
    assert not (out / "runs" / run["key"] / "checkpoint").exists()  # removed once the run is stored

    # the test rows, fed back through `bakeoff predict` in the run's order (so in the same
    # batches: in bf16 a row's score moves ~2e-4 with its batch's shape), get the same answers
    # and scores — observed |Δ| 0 (AMD EPYC)
    data_lines = (tmp_path / "data.jsonl").read_text().splitlines()
    predictions = run["predictions"]
    rows = tmp_path / "new.jsonl"
    rows.write_text(
        "".join(data_lines[int(p["id"].rsplit(":", 1)[1]) - 1] + "\n" for p in predictions)
    )
    result = CliRunner().invoke(app, ["predict", "--artifact", str(artifact), "--input", str(rows)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines() if line[:1] == "{"]
    assert len(lines) == len(predictions)
    for reloaded, p in zip(lines, predictions, strict=True):
        assert reloaded["output"] == p["output"]
        for label, probability in p["probabilities"].items():
            assert reloaded["probabilities"][label] == pytest.approx(probability, abs=1e-4)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-length", "8"], "longer than --max-length 8"),
        (["--lora-targets", "c_attn"], "c_attn not in this model; its linear layers are"),
        (["--lr", "-1"], "--lr: Input should be greater than 0"),
    ],
)
def test_bad_training_settings_are_clear_errors(
    tmp_path: Path, tiny_model_dir: Path, extra: list[str], message: str
) -> None:
    args = [
        "run",
        "--task",
        str(make_task(tmp_path)),
        "--model",
        str(tiny_model_dir),
        "--out",
        str(tmp_path / "o"),
        "--strategy",
        "lora",
        *extra,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_answer_only_logits_give_the_same_loss_and_gradients(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The training loss projects only answer positions onto the vocabulary; it must equal the
    full-logits loss transformers computes, gradients included."""
    import torch

    from bakeoff.finetuning.causal_job import CausalJob
    from bakeoff.finetuning.config import LoraSettings
    from bakeoff.finetuning.lora import apply_lora
    from bakeoff.models.hf import HFCausalLM
    from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
    from bakeoff.strategy import RunContext
    from bakeoff.task.data import load_splits
    from bakeoff.task.spec import load_task

    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(tiny_model_dir))
    lm.model = apply_lora(lm.model, settings=LoraSettings(dropout=0.0), init_ids=[])
    for name, param in lm.model.named_parameters():
        if "lora_B" in name:  # LoRA starts at B = 0; make its gradient path non-trivial
            torch.nn.init.normal_(param, std=0.02)
    candidate = PromptStrategy("few-shot", PromptSettings(shots=2)).adapt(
        task, lm, splits.train, [], RunContext()
    )
    results = []
    for sparse in (True, False):
        job = CausalJob(lm, candidate, task, splits.train, [], 256, 0, answer_logits_only=sparse)
        lm.model.zero_grad()
        loss = job.loss(lm.model, job.collate(list(range(6))))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in lm.model.named_parameters() if p.grad is not None}
        results.append((float(loss.detach()), grads))
    (sparse_loss, sparse_grads), (full_loss, full_grads) = results
    assert sparse_loss == pytest.approx(full_loss, rel=1e-5)  # one process: observed |Δ| 0
    assert sparse_grads.keys() == full_grads.keys() and sparse_grads
    for name, grad in sparse_grads.items():
        torch.testing.assert_close(grad, full_grads[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("words", "message"), [(300, None), (600, "the model's context of 512")])
def test_rows_train_whole_up_to_the_model_context(
    tmp_path: Path, tiny_model_dir: Path, words: int, message: str | None
) -> None:
    """No length cap by default: a row of ~300 tokens trains (it used to need --max-length);
    only rows past the model's positions (512 in the tiny model) are an error."""
    task = make_task(tmp_path)
    data = tmp_path / "data.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for row in rows:
        row["text"] = " ".join([row["text"]] * (words // 3))
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--task", str(task), "--model", str(tiny_model_dir), "--out"]
    args += [str(tmp_path / "o"), "--strategy", "lora", "--max-steps", "2", "--wordings", "0"]
    result = CliRunner().invoke(app, args)
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and message in " ".join(result.output.split())


@pytest.mark.parametrize("trees", [True, False])
def test_a_soft_prompt_scores_like_its_tokens_written_in_front(tiny_lm, monkeypatch, trees) -> None:  # type: ignore[no-untyped-def]
    """A soft prompt started from tokens T scores a prompt P exactly as the base model scores
    T + P: its virtual tokens come first, and the options are read after them (they were read
    16 positions early once, which put prompt-tuning at chance). It is scored as a prefix
    cache of its vectors on the base model, options as trees (or one sequence each)."""
    import torch

    from bakeoff.finetuning.config import PromptTuningSettings
    from bakeoff.finetuning.prompt_tuning import apply_prompt_tuning
    from bakeoff.models.base import ScoreRequest, common_prefix_length

    front = tiny_lm.encode_continuation("classify the sentiment of this review")
    tuned = tiny_lm.copy()
    settings = PromptTuningSettings(virtual_tokens=len(front))
    tuned.model = apply_prompt_tuning(tuned.model, settings, front).eval()
    tuned.cache_prefix, tuned.tree_scoring = False, trees
    requests = [
        ScoreRequest("Text: a great film\nAnswer:", (" positive", " negative")),
        ScoreRequest("Text: dull and far too long\nAnswer:", (" positive", " negative fully")),
        ScoreRequest("Text: fine\nAnswer:", (" negative fully", " negative", " neutral one")),
    ]
    passes = []
    for name in ("_score_trees", "_score_items"):
        run = getattr(tuned, name)
        monkeypatch.setattr(
            tuned, name, lambda *a, run=run, name=name: passes.append((name, a[2])) or run(*a)
        )
    scored = tuned.score(requests)
    [(ran, scoring)] = passes
    assert ran == ("_score_trees" if trees else "_score_items")
    assert scoring.prefix is not None and scoring.module is tuned.model.get_base_model()
    shared = common_prefix_length([tiny_lm.encode_prompt(r.prompt) for r in requests])
    assert shared > 0 and scoring.cached == len(front) + shared
    with torch.inference_mode():
        for request, got in zip(requests, scored, strict=True):
            prompt = tiny_lm.encode_prompt(request.prompt)
            for option, logprob in zip(request.options, got.logprobs, strict=True):
                tokens = tiny_lm.encode_continuation(option)
                ids = torch.tensor([front + prompt + tokens])
                logits = tiny_lm.model(ids).logits[0].float().log_softmax(-1)
                start = len(front) + len(prompt) - 1
                want = sum(float(logits[start + k, t]) for k, t in enumerate(tokens))
                assert abs(logprob - want) < 1e-4, (option, logprob, want)


def test_a_soft_prompt_generates_like_its_tokens_written_in_front(tiny_lm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A soft prompt from tokens T generates after P what the base model generates after
    T + P, prompts of different lengths in one batch: it runs on the base model after a KV
    cache of its vectors, with positions from the mask (PEFT's own forward drops position
    ids, so padded rows read shifted positions there: 5.3 logits off on SmolLM2)."""
    import torch

    from bakeoff.finetuning.config import PromptTuningSettings
    from bakeoff.finetuning.prompt_tuning import apply_prompt_tuning

    front = tiny_lm.encode_continuation("answer the question briefly")
    tuned = tiny_lm.copy()
    tuned.model = apply_prompt_tuning(
        tuned.model, PromptTuningSettings(virtual_tokens=len(front)), front
    ).eval()
    tuned.cache_prefix = False
    base = tuned.model.get_base_model()
    batches = []
    generate = base.generate

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        batches.append(kwargs["attention_mask"])
        return generate(**kwargs)

    monkeypatch.setattr(base, "generate", spy)
    prompts = ["Q: who?\nA:", "Q: where was the great film made and when\nA:", "Q: why?\nA:"]
    together = tuned.generate(prompts, max_new_tokens=4)
    [mask] = batches
    assert mask.shape[0] == 3 and not bool(mask.all())  # one batch, padded
    pad = tiny_lm.tokenizer.pad_token_id
    with torch.inference_mode():
        for prompt, got in zip(prompts, together, strict=True):
            ids = torch.tensor([front + tiny_lm.encode_prompt(prompt)])
            out = tiny_lm.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=4,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
            )
            new = out[0, ids.shape[1] :]
            want = tiny_lm.tokenizer.decode(new[new != pad], skip_special_tokens=True).strip()
            assert got.text == want, (prompt, got.text, want)
