"""The task file (`task.yaml`): what to predict, from which data, scored how.

name: sst2
kind: classification            # or generation
data: {train: train.jsonl, test: test.jsonl}   # or `file:` to split, or `hf_dataset:`
fields: {input: text, label: label}
labels: [negative, positive]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bakeoff.config import StrictModel, load_config_file
from bakeoff.task.output import OutputSpec

TaskKind = Literal["classification", "generation"]


class LabelSpec(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    verbalizer: str | None = Field(
        default=None, description="Words the model is scored on; defaults to the name."
    )

    @property
    def words(self) -> str:
        return self.verbalizer or self.name.replace("_", " ")


class DataSpec(StrictModel):
    file: Path | None = Field(default=None, description="One file, split by `split:`.")
    train: Path | None = None
    validation: Path | None = None
    test: Path | None = None
    hf_dataset: str | None = Field(
        default=None, description="A `datasets` directory (save_to_disk) or a hub id."
    )
    hf_splits: dict[str, str] = Field(
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"}
    )
    drop_invalid: bool = False
    max_input_chars: int = Field(
        default=16_000,
        ge=1,
        le=10_000_000,
        description="Longest input a row may have, in characters (about 4 per token); longer "
        "rows are errors unless `truncate_long_inputs` is on.",
    )
    truncate_long_inputs: bool = Field(
        default=False, description="Cut inputs longer than `max_input_chars` instead of failing."
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        sources = [self.file is not None, self.train is not None, self.hf_dataset is not None]
        if sum(sources) != 1:
            raise ValueError("give exactly one of `file`, `train` (+ `test`) or `hf_dataset`")
        if self.file is not None and (self.validation or self.test):
            raise ValueError("`file` is split automatically; use `train`/`test` for given splits")
        if self.train is None and (self.validation or self.test) and self.hf_dataset is None:
            raise ValueError("`validation`/`test` need a `train` file too")
        return self


class FieldSpec(StrictModel):
    input: str | None = Field(default=None, description="Field holding the input text.")
    input_template: str | None = Field(
        default=None, description="Jinja template over the row's fields (multi-field inputs)."
    )
    label: str | None = Field(default=None, description="Classification: the label field.")
    output: str | None = Field(default=None, description="Generation: the reference output.")
    references: str | None = Field(
        default=None, description="Generation: a list of all acceptable references."
    )

    @field_validator("input_template")
    @classmethod
    def _template_parses(cls, value: str | None) -> str | None:
        return _parsed_template(value) if value is not None else None

    @model_validator(mode="after")
    def _one_input(self) -> FieldSpec:
        if (self.input is None) == (self.input_template is None):
            raise ValueError("give exactly one of `input` (a field) or `input_template`")
        return self


class PromptSpec(StrictModel):
    input_prefix: str = Field(default="Text", description="Name of the input in plain layout.")
    output_prefix: str = Field(default="Answer", description="Name of the answer in plain layout.")
    instructions: list[str] = Field(
        default_factory=list,
        description="Your instruction wordings (Jinja); tried before the built-in ones.",
    )

    @field_validator("instructions")
    @classmethod
    def _templates_parse(cls, value: list[str]) -> list[str]:
        return [_parsed_template(v) for v in value]


def _parsed_template(source: str) -> str:
    from bakeoff.templating import check_template

    problem = check_template(source)
    if problem is not None:
        raise ValueError(f"not a valid Jinja template ({problem})")
    return source


class SplitSpec(StrictModel):
    validation: float = Field(default=0.1, gt=0, lt=0.5)
    test: float = Field(default=0.2, gt=0, lt=0.5)
    seed: int = 0


class GenerationSpec(StrictModel):
    max_new_tokens: int = Field(default=48, ge=1, le=2048)
    stop: list[str] = Field(default_factory=lambda: ["\n"])


class TaskSpec(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: TaskKind
    description: str | None = None
    data: DataSpec
    fields: FieldSpec
    labels: list[LabelSpec] | None = None
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    metrics: list[str] | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    output: OutputSpec | None = Field(
        default=None, description="Generation: the shape every output must have (task/output.py)."
    )
    base_dir: Path = Field(default=Path("."), exclude=True)
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.kind == "classification":
            if not self.labels or len(self.labels) < 2:
                raise ValueError("a classification task needs `labels:` with at least two labels")
            if self.fields.label is None:
                raise ValueError("a classification task needs `fields.label`")
            names = [label.name for label in self.labels]
            if len(set(names)) != len(names):
                raise ValueError(f"`labels:` names must be unique, got {names}")
            words = [label.words.strip().lower() for label in self.labels]
            if len(set(words)) != len(words):
                raise ValueError("two labels share a verbalizer; give each its own `verbalizer`")
        elif self.fields.output is None and self.fields.references is None:
            raise ValueError("a generation task needs `fields.output` or `fields.references`")
        if self.output is not None and self.kind == "classification":
            raise ValueError(
                "`output:` is for generation tasks; a classification task's outputs are its labels"
            )
        from bakeoff.metric_catalog import check_metric_names

        check_metric_names(self.kind, self.metrics, structured=self.output is not None)
        self._instructions_render()
        return self

    def instruction_variables(self) -> dict[str, Any]:
        """What an instruction wording may use: labels, label_list, description, input_name,
        output_name."""
        labels = self.labels or []
        return {
            "labels": ", ".join(label.words for label in labels),
            "label_list": [label.words for label in labels],
            "description": self.description or "",
            "input_name": self.prompt.input_prefix,
            "output_name": self.prompt.output_prefix,
        }

    def _instructions_render(self) -> None:
        """Each wording rendered once now, strictly, so `validate` fails where `run` would."""
        from bakeoff.templating import TemplateError, render_template

        variables = self.instruction_variables()
        for index, source in enumerate(self.prompt.instructions):
            try:
                render_template(source, variables)
            except TemplateError as exc:
                raise ValueError(
                    f"prompt.instructions[{index}]: {exc} — a wording may use only "
                    f"{', '.join(variables)}"
                ) from None

    @property
    def where(self) -> str:
        """How errors name this task: its file, else its name."""
        return str(self.source_file) if self.source_file else f"task '{self.name}'"

    @property
    def metric_names(self) -> list[str]:
        """Its metrics, headline first (the defaults of its kind and output shape if unset)."""
        from bakeoff.metric_catalog import metrics_for

        return metrics_for(self.kind, self.metrics, structured=self.output is not None)

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels or []]

    @property
    def classes(self) -> int:
        """Its number of labels; 0 for generation (what schedules and LoRA's layers read)."""
        return len(self.label_names) if self.kind == "classification" else 0

    def resolve(self, path: Path | None) -> Path | None:
        """A data path relative to the task file's folder."""
        if path is None:
            return None
        return path if path.is_absolute() else Path(os.path.normpath(self.base_dir / path))


def load_task(path: str | Path) -> TaskSpec:
    """Read and validate a task file; every problem names its line and field."""
    return load_config_file(
        Path(path),
        TaskSpec,
        "task",
        "name, kind, data, fields",
        "examples/sst2/task.yaml",
        "docs/tasks.md",
    )
