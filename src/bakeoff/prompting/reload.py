"""Rebuild a saved prompt candidate from its artifact folder (the loader of prompt strategies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bakeoff.models.base import LanguageModel
from bakeoff.prompting.artifact import read_examples
from bakeoff.prompting.demos import KNN_METHODS, DemoSelector, FixedDemos, NearestDemos
from bakeoff.prompting.layout import PromptLayout
from bakeoff.prompting.strategies import PromptCandidate, PromptSettings, embedder_for
from bakeoff.strategy import RunContext
from bakeoff.task.spec import TaskSpec


def rebuild_prompt(
    folder: Path,
    manifest: dict[str, Any],
    task: TaskSpec,
    model: LanguageModel,
    device: str = "cpu",
) -> PromptCandidate:
    """The saved prompt (layout, demos, settings) over `model`; a knn selector's encoder on
    `device`."""
    p = manifest["prompt"]
    settings = PromptSettings.model_validate(p["settings"])
    layout = PromptLayout(p["format"], p["instruction"], p["input_prefix"], p["output_prefix"])
    demos = read_examples(folder / "demos.jsonl")
    selector: DemoSelector = FixedDemos(demos)
    if settings.shots and settings.demos in KNN_METHODS:
        embedder = embedder_for(RunContext(device=device))
        selector = NearestDemos(
            demos, settings.shots, embedder, balanced=KNN_METHODS[settings.demos]
        )
    return PromptCandidate(task, model, layout, selector, settings, p["strategy"])


def load_prompt_artifact(
    folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str = "cpu"
) -> PromptCandidate:
    """A prompt over the base model, on any backend, in the precision it was scored with
    (transformers models on `device`)."""
    from bakeoff.models.backends import BackendOptions, load_model

    precision = manifest.get("inference_precision", "fp32")
    model = load_model(manifest["model"], BackendOptions(precision=precision, device=device))
    return rebuild_prompt(folder, manifest, task, model, device)
