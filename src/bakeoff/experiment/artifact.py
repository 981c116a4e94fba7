"""Artifacts: everything needed to rebuild a candidate, next to its weights.

manifest.json   task spec, base model, prompt (layout, instruction, settings), method, training
demos.jsonl     the fixed demos, or the pool nearest-neighbour demos are drawn from
adapter/        PEFT adapter (LoRA, prompt tuning), safetensors
model/          full fine-tuned weights (or an encoder + head), safetensors
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakeoff import __version__
from bakeoff.errors import BakeoffError
from bakeoff.task.example import Example

if TYPE_CHECKING:
    from bakeoff.prompting.strategies import PromptCandidate
    from bakeoff.strategy import Candidate
    from bakeoff.task.spec import TaskSpec


def _write_examples(path: Path, examples: list[Example]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            record = {
                "id": ex.id,
                "text": ex.text,
                "label": ex.label,
                "references": list(ex.references),
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_examples(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Example(r["id"], r["text"], r["label"], tuple(r["references"])) for r in rows]


def save_prompt_artifact(
    candidate: PromptCandidate,
    folder: Path,
    method: str | None = None,
    training: dict[str, Any] | None = None,
) -> None:
    from bakeoff.prompting.demos import FixedDemos, NearestDemos

    folder.mkdir(parents=True, exist_ok=True)
    selector = candidate.selector
    demos = selector.demos if isinstance(selector, FixedDemos) else []
    if isinstance(selector, NearestDemos):
        demos = selector.pool
    _write_examples(folder / "demos.jsonl", demos)
    layout = candidate.layout
    manifest = {
        "bakeoff": __version__,
        "kind": "prompt",
        "model": candidate.model.name,
        # scored with bf16 weights or fp32: a reload predicts the same way
        "inference_precision": "bf16"
        if getattr(candidate.model, "inference_bf16", False)
        else "fp32",
        "task": candidate.task.model_dump(mode="json"),
        "prompt": {
            "format": layout.format,
            "instruction": layout.instruction,
            "input_prefix": layout.input_prefix,
            "output_prefix": layout.output_prefix,
            "settings": candidate.settings.model_dump(),
            "example_prompt": candidate.describe()["example_prompt"],
        },
        "method": method,
    }
    if training is not None:
        manifest["training"] = {k: v for k, v in training.items() if k != "history"}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.exists():
        raise BakeoffError(
            f"{folder}: no manifest.json — point --artifact at a run's artifact folder "
            "(DIR/runs/<key>/artifact)."
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def load_candidate(folder: Path) -> tuple[TaskSpec, Candidate]:
    """The task and the candidate saved in `folder`."""
    from bakeoff.prompting.demos import FixedDemos, NearestDemos
    from bakeoff.prompting.layout import PromptLayout
    from bakeoff.prompting.strategies import PromptCandidate, PromptSettings, embedder_for
    from bakeoff.strategy import RunContext

    manifest = read_manifest(folder)
    from bakeoff.task.spec import TaskSpec

    task = TaskSpec.model_validate(manifest["task"])
    if manifest.get("kind") == "encoder-head":
        from bakeoff.finetuning.encoder_head import load_encoder_candidate

        return task, load_encoder_candidate(folder, task, manifest)
    lm = _load_model(folder, manifest)
    p = manifest["prompt"]
    settings = PromptSettings.model_validate(p["settings"])
    layout = PromptLayout(p["format"], p["instruction"], p["input_prefix"], p["output_prefix"])
    demos = _read_examples(folder / "demos.jsonl")
    selector: Any = FixedDemos(demos)
    if settings.shots and settings.demos == "knn":
        selector = NearestDemos(demos, settings.shots, embedder_for(RunContext()))
    candidate = PromptCandidate(task, lm, layout, selector, settings)
    if manifest.get("method"):
        from bakeoff.finetuning.causal import TunedCandidate

        return task, TunedCandidate(candidate, manifest["method"], manifest.get("training", {}))
    return task, candidate


def _load_model(folder: Path, manifest: dict[str, Any]) -> Any:
    from bakeoff.models.backends import BackendOptions, load_model
    from bakeoff.models.hf import HFCausalLM

    method = manifest.get("method")
    if method is None:  # a prompt: any backend, in the precision it was scored with
        precision = manifest.get("inference_precision", "fp32")
        return load_model(manifest["model"], BackendOptions(precision=precision))
    if method == "full":
        lm = HFCausalLM.load(str(folder / "model"))
        lm.name = manifest["model"]
        return lm
    lm = HFCausalLM.load(manifest["model"])
    if method in {"lora", "prompt-tuning"}:
        import torch
        from peft import PeftModel

        bf16 = manifest.get("inference_precision") == "bf16"
        if bf16:  # as in the run: bf16 frozen base, fp32 adapter weights
            lm = lm.copy(torch.bfloat16)
            lm.inference_bf16 = True
        model = PeftModel.from_pretrained(lm.model, str(folder / "adapter"))
        for name, param in model.named_parameters():
            if bf16 and ("lora_" in name or "prompt_encoder" in name):
                param.data = param.data.float()
        lm.model = model.eval()
        lm.cache_prefix = method != "prompt-tuning"
    return lm
