"""encoder-head registered: a sentence encoder (MiniLM by default) + a linear head, fine-tuned
end to end on the labels. It brings its own model, so it ignores prompts and `models`.

    bakeoff run --task examples/sst2/task.yaml --strategy encoder-head --out runs/e
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bakeoff.finetuning.config import ENCODER_HEAD_SCHEDULE, EncoderHeadSettings, TrainConfig
from bakeoff.strategy import Candidate, Strategy
from bakeoff.strategy_registry import Resolved, StrategyInfo, register_strategy
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


def build(settings: dict[str, Any], resolved: Resolved) -> Strategy:
    from bakeoff.finetuning.encoder_head import EncoderHead

    training = settings["training"]
    return EncoderHead(
        TrainConfig.model_validate(training["train"]),
        EncoderHeadSettings.model_validate(training.get("encoder", {})),
        resolved.main.training_defaults,
    )


def training_rows(training: dict[str, Any], train: list[Example]) -> int:
    """The rows the loop iterates: the train rows and their same-label concatenations."""
    from bakeoff.finetuning.augment import concatenate_same_label

    settings = EncoderHeadSettings.model_validate(training.get("encoder", {}))
    copies = settings.concat_copies(Counter(ex.label or "" for ex in train))
    return len(train) + len(concatenate_same_label(train, copies, seed=0))


def load(folder: Path, manifest: dict[str, Any], task: TaskSpec, device: str) -> Candidate:
    from bakeoff.finetuning.encoder_head import load_encoder_candidate

    return load_encoder_candidate(folder, manifest, task, device)


ENCODER_HEAD = register_strategy(
    StrategyInfo(
        name="encoder-head",
        kind="trained",
        summary="sentence encoder + linear head, fine-tuned (classification)",
        build=build,
        load=load,
        axes=frozenset({"train_size", "seed"}),
        settings=EncoderHeadSettings,
        settings_key="encoder",
        training_defaults=ENCODER_HEAD_SCHEDULE,
        training_rows=training_rows,
        uses_prompt=False,
        own_model=lambda settings: str(settings["training"]["encoder"]["encoder"]),
    )
)
