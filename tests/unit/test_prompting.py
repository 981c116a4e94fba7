"""Prompt layouts, wordings, demo selection, label parsing and calibration."""

from __future__ import annotations

import numpy as np
import pytest

from bakeoff.models.base import OptionScores
from bakeoff.prompting.decode import calibrated, option_scores, parse_label, softmax
from bakeoff.prompting.demos import NearestDemos, random_demos, stratified_demos
from bakeoff.prompting.layout import Demo, PromptLayout, choose_format
from bakeoff.prompting.strategies import PromptSettings, PromptStrategy
from bakeoff.prompting.wordings import render_instruction, wordings
from bakeoff.strategy import RunContext
from bakeoff.task.example import Example
from bakeoff.task.spec import LabelSpec, TaskSpec
from bakeoff.templating import TemplateError, render_template

LABELS = [
    LabelSpec(name="positive"),
    LabelSpec(name="negative"),
    LabelSpec(name="Sci/Tech", verbalizer="technology"),
]


def sentiment_task(**extra: object) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "s",
            "kind": "classification",
            "data": {"file": "x.jsonl"},
            "fields": {"input": "text", "label": "label"},
            "labels": [{"name": "positive", "description": "likes it"}, "negative"],
            **extra,
        }
    )


def test_plain_layout_with_demos() -> None:
    layout = PromptLayout("plain", "Classify.", "Review", "Sentiment")
    prompt = layout.build(None, [Demo("great", "positive")], "dull")  # type: ignore[arg-type]
    assert prompt == "Classify.\n\nReview: great\nSentiment: positive\n\nReview: dull\nSentiment:"
    assert layout.option_text("positive") == " positive"


def test_chat_and_inline_layouts(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    chat = PromptLayout("chat", "Classify.").build(tiny_lm, [Demo("great", "positive")], "dull")
    assert chat == (
        "<|system|> Classify. <|end|> <|user|> great <|end|> <|assistant|> positive <|end|> "
        "<|user|> dull <|end|> <|assistant|> "
    )
    inline = PromptLayout("inline", "Classify.").build(tiny_lm, [Demo("great", "positive")], "dull")
    assert inline.count("<|user|>") == 1 and "Text: great\nAnswer: positive" in inline
    assert PromptLayout("chat", "x").option_text("positive") == "positive"
    assert choose_format("auto", tiny_lm, "classification") == "plain"
    assert choose_format("auto", tiny_lm, "generation") == "chat"


def test_wordings_user_first_then_builtin_with_descriptions() -> None:
    task = sentiment_task(prompt={"instructions": ["Is this {{ labels }}?"]})
    assert len(wordings(task)) == 4
    text = render_instruction(task, 0)
    assert text.startswith("Is this positive, negative?")
    assert "- positive: likes it" in text
    assert "positive, negative" in render_instruction(task, 1)
    with pytest.raises(IndexError):
        render_instruction(task, 9)


def test_templates_are_sandboxed() -> None:
    with pytest.raises(TemplateError):
        render_template("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(TemplateError):
        render_template("{{ missing }}", {})


POOL = [Example(f"p{i}", f"text {i}", "positive" if i % 4 else "negative") for i in range(40)]


def test_random_and_stratified_demos_are_fixed_and_seeded() -> None:
    assert random_demos(POOL, 8, seed=0).demos == random_demos(POOL, 8, seed=0).demos
    strat = stratified_demos(POOL, 8, seed=0)
    assert sorted(d.label or "" for d in strat.demos) == ["negative"] * 4 + ["positive"] * 4
    assert strat.select(["a", "b"]) == [strat.demos, strat.demos]


class OneHotEmbedder:
    """Each text's vector points at its number: the nearest row to 'text 5' is 'text 5'."""

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            n = int(text.split()[-1])
            out[row, n] = 1.0
            out[row, (n + 1) % 64] = 0.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_knn_demos_nearest_last_and_never_itself() -> None:
    knn = NearestDemos(POOL, 3, OneHotEmbedder())
    chosen = knn.select(["text 5", "other 6"])
    assert "text 5" not in [d.text for d in chosen[0]]  # its own text is never a demo
    assert chosen[1][-1].text == "text 6"  # nearest comes last, next to the input


class LineEmbedder:
    """'x N' sits at angle N/20 on a circle: the nearer the numbers, the more similar."""

    def embed(self, texts: list[str]) -> np.ndarray:
        angles = np.array([int(t.split()[-1]) / 20 for t in texts])
        return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def test_balanced_knn_takes_the_nearest_of_each_label_in_turn() -> None:
    pool = [
        Example(f"r{n}", f"row {n}", "positive" if n <= 6 else "negative") for n in range(1, 11)
    ]
    plain = NearestDemos(pool, 4, LineEmbedder()).select(["query 2"])[0]
    assert [d.label for d in plain] == ["positive"] * 4  # the neighbours' label decides
    balanced = NearestDemos(pool, 4, LineEmbedder(), balanced=True).select(["query 2"])[0]
    assert [d.text for d in balanced] == ["row 8", "row 7", "row 1", "row 2"]  # nearest last
    odd = NearestDemos(pool, 3, LineEmbedder(), balanced=True).select(["query 9"])[0]
    assert sorted(d.label or "" for d in odd) == ["negative", "negative", "positive"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("positive", "positive"),
        ("Positive.", "positive"),
        ("The sentiment is negative.", "negative"),
        ("technology", "Sci/Tech"),
        ("sci tech", "Sci/Tech"),
        ("neg", "negative"),
        ("I cannot tell", None),
        ("", None),
    ],
)
def test_parse_label(text: str, expected: str | None) -> None:
    assert parse_label(text, LABELS) == expected


def test_normalisation_and_calibration() -> None:
    scores = OptionScores((-2.0, -3.0), (1, 3), 10)
    assert option_scores(scores, "sum") == [-2.0, -3.0]
    assert option_scores(scores, "mean") == [-2.0, -1.0]
    probs = softmax([0.0, 0.0])
    assert probs == [0.5, 0.5]
    # a model that says "positive" 90% of the time on content-free input is corrected
    assert calibrated([0.8, 0.2], [0.9, 0.1])[1] > 0.5


def test_candidate_predicts_by_scoring_and_by_generation(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    task = sentiment_task()
    train = [
        Example(f"t{i}", f"great film {i}", "positive" if i % 2 else "negative") for i in range(6)
    ]
    test = [Example("x1", "loved it", "positive"), Example("x2", "dull plot", "negative")]
    for settings in (
        PromptSettings(),
        PromptSettings(shots=2, demos="stratified", format="chat", calibrate=True),
        PromptSettings(decode="generate", format="inline"),
    ):
        strategy = PromptStrategy("few-shot" if settings.shots else "zero-shot", settings)
        candidate = strategy.adapt(task, tiny_lm, train, [], RunContext())
        preds = candidate.predict(test)
        assert [p.id for p in preds] == ["x1", "x2"]
        for p in preds:
            if settings.decode == "score":
                assert p.output in {"positive", "negative"}
                assert sum((p.probabilities or {}).values()) == pytest.approx(1.0)
            assert p.prompt_tokens > 0
        described = candidate.describe()
        assert "<input>" in described["example_prompt"]
