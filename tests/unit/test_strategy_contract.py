"""One contract for every registered strategy (PEFT-style, table-driven), on a tiny model:
adapt on train/validation -> predict -> save -> load -> the same predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bakeoff.experiment.plan import run_settings
from bakeoff.experiment.registry import default_training
from bakeoff.models.hf import HFCausalLM
from bakeoff.strategy import RunContext
from bakeoff.strategy_registry import load_candidate, registered, resolve, strategy_names
from bakeoff.task.data import load_splits
from bakeoff.task.spec import load_task
from tests.unit.test_cli_run import make_task

QUICK_TRAINING = {"max_steps": 2, "eval_every": 2, "eval_rows": 4, "batch_size": 4, "lr": 0.01}
PROMPT = {"format": "auto", "decode": "score", "normalize": "mean", "calibrate": False, "shots": 2}


def settings_for(name: str) -> dict[str, Any]:
    resolved = resolve(name)
    training = None
    if resolved.kind == "trained":
        training = default_training(resolved, {"train": QUICK_TRAINING}, "test")
    return run_settings(resolved, PROMPT, 0, "random", training)


def test_every_registered_strategy_has_the_fields_the_grid_needs() -> None:
    for info in registered().values():
        assert info.kind in {"prompt", "trained"} and info.summary and info.load is not None
        assert info.axes <= {"wording", "train_size", "seed"}
        if info.kind == "trained":
            assert {"train_size", "seed"} <= info.axes  # a trained strategy learns from labels


@pytest.mark.parametrize("name", strategy_names())
def test_strategy_contract(name: str, tmp_path: Path, tiny_model_dir: Path) -> None:
    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(tiny_model_dir), inference_precision="fp32")
    resolved = resolve(name)
    strategy = resolved.build(settings_for(name))
    ctx = RunContext(seed=0, run_dir=tmp_path / "run")
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, ctx)

    preds = candidate.predict(splits.test)
    assert [p.id for p in preds] == [ex.id for ex in splits.test]
    assert all(p.output in {*task.label_names, None} for p in preds)
    assert candidate.predict([]) == []
    json.dumps(candidate.describe())  # the report stores it as JSON
    assert (candidate.training is not None) == (resolved.kind == "trained")

    candidate.save(tmp_path / "artifact")
    reloaded_task, reloaded = load_candidate(tmp_path / "artifact")
    assert reloaded_task.model_dump(mode="json") == task.model_dump(mode="json")
    again = reloaded.predict(splits.test)
    assert [p.output for p in again] == [p.output for p in preds]
    for a, b in zip(preds, again, strict=True):
        if a.probabilities is not None:
            assert b.probabilities == pytest.approx(a.probabilities, abs=1e-4)


@pytest.mark.parametrize("demos", ["knn", "knn-balanced"])
def test_nearest_neighbour_prompts_reload_with_their_demo_method(
    demos: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """knn demos are chosen per row from the saved pool: a reload must choose them the same way
    (balanced or not), so the reloaded prompts equal the run's prompts."""
    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(tiny_model_dir), inference_precision="fp32")
    resolved = resolve("few-shot")
    strategy = resolved.build(run_settings(resolved, PROMPT, 0, demos, None))
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, RunContext())
    candidate.save(tmp_path / "artifact")
    _, reloaded = load_candidate(tmp_path / "artifact")
    texts = [ex.text for ex in splits.test]
    assert reloaded.prompts(texts) == candidate.prompts(texts)  # type: ignore[attr-defined]
    assert reloaded.selector.balanced == (demos == "knn-balanced")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["lora", "encoder-head", "zero-shot"])
def test_a_reload_runs_on_the_device_asked(name: str, tmp_path: Path, tiny_model_dir: Path) -> None:
    """`predict` / `serve --device`: the rebuilt candidate's weights are on that device; a GPU
    asked for on a machine without one is a clear error before anything loads."""
    import torch

    from bakeoff.device import module_device
    from bakeoff.errors import BakeoffError

    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(tiny_model_dir), inference_precision="fp32")
    strategy = resolve(name).build(settings_for(name))
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, RunContext(seed=0))
    candidate.save(tmp_path / "artifact")

    def weights_device(loaded: Any) -> str:
        model = loaded.model if hasattr(loaded, "model") else loaded.prompt.model
        return str(module_device(getattr(model, "model", model)))

    _, on_cpu = load_candidate(tmp_path / "artifact", device="cpu")
    assert weights_device(on_cpu) == "cpu"
    if torch.cuda.is_available():
        _, on_gpu = load_candidate(tmp_path / "artifact", device="cuda")
        assert weights_device(on_gpu) == "cuda:0"
    else:
        with pytest.raises(BakeoffError, match=r"--device cuda.*--device cpu"):
            load_candidate(tmp_path / "artifact", device="cuda")


@pytest.mark.parametrize("name", ["lora", "prompt-tuning"])
def test_a_reduced_precision_adapter_reloads_to_the_scores_of_its_run(
    name: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """A run that scored in bf16 reloads with bf16 frozen weights (its adapter in fp32) and
    scores the test rows as the run did."""
    import torch

    task = load_task(make_task(tmp_path))
    splits = load_splits(task)
    lm = HFCausalLM.load(str(tiny_model_dir), inference_precision="bf16")
    strategy = resolve(name).build(settings_for(name))
    candidate = strategy.adapt(task, lm, splits.train, splits.validation, RunContext(seed=0))
    preds = candidate.predict(splits.test)
    candidate.save(tmp_path / "artifact")

    _, reloaded = load_candidate(tmp_path / "artifact")
    base = reloaded.prompt.model  # type: ignore[attr-defined]
    assert base.inference_precision == "bf16" and base.weights_reduced
    tuned = ("lora_", "prompt_encoder")  # the trained weights stay fp32
    frozen = [p for n, p in base.model.named_parameters() if not any(t in n for t in tuned)]
    assert {p.dtype for p in frozen} == {torch.bfloat16}
    again = reloaded.predict(splits.test)
    assert [p.output for p in again] == [p.output for p in preds]
    for a, b in zip(preds, again, strict=True):
        assert b.probabilities == pytest.approx(a.probabilities, abs=1e-4)
