"""A prompt candidate's artifact: its demos and the exact prompt (prompting/reload.py rebuilds
it). A tuned candidate (LoRA, full, prompt tuning) is a prompt over trained weights: it writes
the same files and adds its weights (finetuning/causal.py; reloaded by tuned_artifact.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakeoff.artifacts import write_manifest
from bakeoff.errors import BakeoffError
from bakeoff.prompting.demos import FixedDemos, NearestDemos
from bakeoff.task.example import Example

if TYPE_CHECKING:
    from bakeoff.prompting.strategies import PromptCandidate


def write_examples(path: Path, examples: list[Example]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            row = {
                "id": ex.id,
                "text": ex.text,
                "label": ex.label,
                "references": list(ex.references),
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[Example]:
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return [Example(r["id"], r["text"], r["label"], tuple(r["references"])) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BakeoffError(f"{path}: unreadable demos ({exc}) — rerun the run.") from None


def save_prompt_artifact(
    candidate: PromptCandidate,
    folder: Path,
    loader: str,
    method: str | None = None,
    training: dict[str, Any] | None = None,
) -> None:
    """manifest.json + demos.jsonl; `loader` is the registered strategy that rebuilds it."""
    folder.mkdir(parents=True, exist_ok=True)
    selector = candidate.selector
    demos = selector.demos if isinstance(selector, FixedDemos) else []
    if isinstance(selector, NearestDemos):
        demos = selector.pool
    write_examples(folder / "demos.jsonl", demos)
    layout = candidate.layout
    manifest: dict[str, Any] = {
        "kind": "prompt" if method is None else "trained",
        "model": candidate.model.name,
        # scored with bf16 weights or fp32: a reload predicts the same way
        "inference_precision": getattr(candidate.model, "inference_precision", "fp32"),
        "task": candidate.task.model_dump(mode="json"),
        "prompt": {
            "strategy": candidate.strategy,
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
    write_manifest(folder, loader, manifest)
