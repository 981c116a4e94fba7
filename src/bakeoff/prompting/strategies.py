"""Zero-shot and few-shot prompting behind Strategy.adapt -> Candidate.

bakeoff run --task examples/sst2/task.yaml --strategy few-shot --demos knn --shots 8
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from bakeoff.config import StrictModel
from bakeoff.models.base import LanguageModel, Progress, ScoreRequest
from bakeoff.prompting.decode import (
    CONTENT_FREE_INPUTS,
    Normalize,
    argmax,
    calibrated,
    mean_distribution,
    option_scores,
    parse_label,
    softmax,
)
from bakeoff.prompting.demos import (
    KNN_METHODS,
    DemoMethod,
    DemoSelector,
    FixedDemos,
    NearestDemos,
    diverse_demos,
    random_demos,
    reordered,
    stratified_demos,
)
from bakeoff.prompting.layout import Demo, PromptLayout, choose_format
from bakeoff.prompting.wordings import render_instruction
from bakeoff.strategy import Prediction, RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec


class PromptSettings(StrictModel):
    """Every knob of a prompt; part of a run's identity."""

    format: Literal["auto", "chat", "inline", "plain"] = "auto"
    wording: int = Field(default=0, ge=0)
    # generate: classification by generated text; free: a generation task's output without
    # its declared `output:` shape (the default decodes under it)
    decode: Literal["score", "generate", "free"] = "score"
    normalize: Normalize = "mean"
    calibrate: bool = False
    shots: int = Field(default=0, ge=0, le=64)
    demos: DemoMethod = "random"
    # label name -> the words scored for it, where a prompt search chose other words than
    # the task's (None: the task's verbalizers)
    label_words: dict[str, str] | None = None
    # a label prior fitted by a prompt search (the mean prediction over validation rows,
    # labels unused), divided out at predict time; `calibrate` measures one instead
    prior: list[float] | None = None
    demo_order: int = Field(default=0, ge=0, description="0: demos as chosen; k: a shuffle")


class PromptCandidate:
    """A prompt (instruction + demos + layout) and the way its outputs become predictions."""

    def __init__(
        self,
        task: TaskSpec,
        model: LanguageModel,
        layout: PromptLayout,
        selector: DemoSelector,
        settings: PromptSettings,
        strategy: str = "few-shot",
    ):
        self.task, self.model, self.layout = task, model, layout
        self.selector, self.settings = selector, settings
        self.strategy = strategy  # the registered strategy whose loader rebuilds it
        self._prior: list[float] | None = None
        self.training: dict[str, Any] | None = None  # a prompt trains nothing
        self.notes: dict[str, Any] = {}  # more for describe(): e.g. the search that chose it
        # prompts a search ranked next: the executor scores them on test after the choice
        self.runners_up: list[tuple[str, PromptCandidate]] = []

    def _demo(self, ex: Example) -> Demo:
        return Demo(ex.text, self.answer_words(ex))

    def answer_words(self, ex: Example) -> str:
        """What a demo answers (and fine-tuning learns) for `ex`: its label's words, or its
        reference — in the task's output shape when it declares one."""
        if ex.label is None:
            return self.task.output.shaped(ex.target) if self.task.output else ex.target
        return self.words(ex.label)

    def words(self, label: str) -> str:
        """What the model is scored on (and demos answer with) for `label`."""
        if self.settings.label_words is not None:
            return self.settings.label_words[label]
        return next(lab.words for lab in self.task.labels or [] if lab.name == label)

    def prompts(self, texts: list[str]) -> list[str]:
        chosen = self.selector.select(texts)
        return [
            self.layout.build(self.model, [self._demo(d) for d in demos], text)
            for text, demos in zip(texts, chosen, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "format": self.layout.format,
            "instruction": self.layout.instruction,
            "settings": self.settings.model_dump(),
            "example_prompt": self.prompts(["<input>"])[0],
        }
        if isinstance(self.selector, FixedDemos):
            info["demos"] = [
                {"text": d.text, "answer": self.answer_words(d)} for d in self.selector.demos
            ]
        return {**info, **self.notes}

    def save(self, folder: Path) -> None:
        from bakeoff.prompting.artifact import save_prompt_artifact

        save_prompt_artifact(self, folder, self.strategy)

    def predict(
        self, examples: Sequence[Example], progress: Progress | None = None
    ) -> list[Prediction]:
        if not examples:  # nothing to embed, render or score
            return []
        prompts = self.prompts([ex.text for ex in examples])
        if self.task.kind == "generation" or self.settings.decode == "generate":
            return self._generate(examples, prompts, progress)
        return self._score(examples, prompts, progress)

    def score_options(self) -> tuple[str, ...]:
        return tuple(self.layout.option_text(self.words(name)) for name in self.task.label_names)

    def forget_prior(self) -> None:
        """Drop the measured contextual prior: the weights changed (a fine-tune's evaluation)."""
        self._prior = None

    def refit_prior(self, rows: Sequence[Example]) -> None:
        """The mean-prediction prior fitted anew, labels unused, on `rows` with the current
        weights (a searched prompt's prior was fitted on the base weights)."""
        self.settings = self.settings.model_copy(update={"prior": None})
        names = self.task.label_names
        probs = [[(p.probabilities or {})[n] for n in names] for p in self.predict(rows)]
        prior = mean_distribution(probs)
        self.settings = self.settings.model_copy(update={"prior": prior})

    def label_prior(self) -> list[float]:
        """The label probabilities on content-free inputs (contextual calibration)."""
        if self._prior is None:
            prompts = self.prompts(list(CONTENT_FREE_INPUTS))
            results = self.model.score([ScoreRequest(p, self.score_options()) for p in prompts])
            probs = [softmax(option_scores(r, self.settings.normalize)) for r in results]
            self._prior = mean_distribution(probs)
        return self._prior

    def _score(
        self, examples: Sequence[Example], prompts: list[str], progress: Progress | None
    ) -> list[Prediction]:
        names = self.task.label_names
        options = self.score_options()
        results = self.model.score([ScoreRequest(p, options) for p in prompts], progress)
        prior = self.settings.prior
        if prior is None and self.settings.calibrate:
            prior = self.label_prior()
        out = []
        for ex, r in zip(examples, results, strict=True):
            probs = softmax(option_scores(r, self.settings.normalize))
            if prior is not None:
                probs = calibrated(probs, prior)
            best = argmax(probs)
            out.append(
                Prediction(
                    ex.id,
                    names[best],
                    probabilities=dict(zip(names, probs, strict=True)),
                    prompt_tokens=r.prompt_tokens,
                    output_tokens=0,
                )
            )
        return out

    def _generate(
        self, examples: Sequence[Example], prompts: list[str], progress: Progress | None
    ) -> list[Prediction]:
        spec = self.task.generation
        max_new = spec.max_new_tokens if self.task.kind == "generation" else 8
        shape = self.task.output if self.settings.decode != "free" else None
        if shape is not None:  # a complete output fits in (spaced: the grammar may add spaces)
            max_new = shape.token_budget(max_new, spaced=self.model.shape_spaced)
        gens = self.model.generate(
            prompts, max_new_tokens=max_new, stop=spec.stop, progress=progress, constraint=shape
        )
        out = []
        for ex, g in zip(examples, gens, strict=True):
            output = (
                g.text
                if self.task.kind == "generation"
                else parse_label(g.text, self.task.labels or [])
            )
            out.append(Prediction(ex.id, output, g.text, None, g.prompt_tokens, g.output_tokens))
        return out


class PromptStrategy:
    """A prompt (instruction + demos from train when `shots` > 0) is the whole adaptation.

    Registered as zero-shot (prompting/zero_shot.py) and few-shot (prompting/few_shot.py)."""

    uses_model = True

    def __init__(self, name: str, settings: PromptSettings):
        self.name, self.settings = name, settings

    def adapt(
        self,
        task: TaskSpec,
        model: LanguageModel,
        train: list[Example],
        validation: list[Example],
        ctx: RunContext,
    ) -> PromptCandidate:
        instruction = render_instruction(task, self.settings.wording)
        return build_candidate(task, model, self.settings, instruction, train, ctx, self.name)


def build_candidate(
    task: TaskSpec,
    model: LanguageModel,
    settings: PromptSettings,
    instruction: str,
    train: list[Example],
    ctx: RunContext,
    strategy: str,
) -> PromptCandidate:
    """The prompt `settings` describe, with this instruction text, over `model`."""
    layout = PromptLayout(
        choose_format(settings.format, model, task.kind),
        instruction,
        task.prompt.input_prefix,
        task.prompt.output_prefix,
    )
    selector = demo_selector(task, train, settings, ctx)
    return PromptCandidate(task, model, layout, selector, settings, strategy)


def demo_selector(
    task: TaskSpec, train: list[Example], s: PromptSettings, ctx: RunContext
) -> DemoSelector:
    if s.shots == 0:
        return FixedDemos([])
    if s.demos in KNN_METHODS:
        return NearestDemos(train, s.shots, embedder_for(ctx), balanced=KNN_METHODS[s.demos])
    if s.demos == "stratified" and task.kind == "classification":
        chosen = stratified_demos(train, s.shots, ctx.seed)
    elif s.demos == "diverse":  # embedding the pool is the cost: once per process
        key = (
            f"diverse:{ctx.encoder_name}:{s.shots}:{ctx.seed}:{hash(tuple(ex.id for ex in train))}"
        )
        if key not in ctx.cache:
            ctx.cache[key] = diverse_demos(train, s.shots, embedder_for(ctx), ctx.seed)
        chosen = ctx.cache[key]
    else:
        chosen = random_demos(train, s.shots, ctx.seed)
    if s.demo_order:  # the same demos, another order (the saved artifact keeps it)
        chosen = FixedDemos(reordered(chosen.demos, s.demo_order, ctx.seed))
    return chosen


def embedder_for(ctx: RunContext) -> Any:
    from bakeoff.models.encoder import Embedder

    key = f"embedder:{ctx.encoder_name}"
    if key not in ctx.cache:
        ctx.cache[key] = Embedder.load(ctx.encoder_name, ctx.device)
    return ctx.cache[key]


def prompt_settings(settings: dict[str, Any]) -> PromptSettings:
    """The prompt part of a run's settings (everything but `training`)."""
    return PromptSettings.model_validate({k: v for k, v in settings.items() if k != "training"})
