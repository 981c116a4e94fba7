"""Batched, prefix-cached scoring must equal the naive one-sequence-at-a-time computation."""

from __future__ import annotations

import pytest
import torch

from bakeoff.models.base import ScoreRequest, cut_at_stop


def naive_logprob(lm, prompt: str, option: str) -> float:  # type: ignore[no-untyped-def]
    p = lm.encode_prompt(prompt)
    ids = p + lm.encode_continuation(option)
    with torch.no_grad():
        logp = lm.model(torch.tensor([ids])).logits[0].log_softmax(-1)
    return float(sum(logp[i - 1, ids[i]] for i in range(len(p), len(ids))))


PROMPTS = [
    "classify the review : great film . answer :",
    "classify the review : dull boring movie and bad plot . answer :",
    "classify the review : loved it . answer :",
    "classify the review : the acting was very good and the story was fun . answer :",
]
OPTIONS = (" positive", " negative", " very good film", " bad")


def test_batched_scoring_equals_naive(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    tiny_lm.max_batch_tokens = 40  # force several batches
    results = tiny_lm.score([ScoreRequest(p, OPTIONS) for p in PROMPTS])
    for prompt, result in zip(PROMPTS, results, strict=True):
        expected = [naive_logprob(tiny_lm, prompt, o) for o in OPTIONS]
        # one process, fp32, only batching differs: observed |Δ| ≤ 5e-7 (AMD EPYC), 200x under
        assert result.logprobs == pytest.approx(expected, abs=1e-4)
        assert result.n_tokens == (1, 1, 3, 1)
        assert result.prompt_tokens == len(tiny_lm.encode_prompt(prompt))


def test_scoring_without_shared_prefix(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    prompts = ["great film", "bad plot ."]
    results = tiny_lm.score([ScoreRequest(p, (" yes", " no")) for p in prompts])
    for prompt, result in zip(prompts, results, strict=True):
        expected = [naive_logprob(tiny_lm, prompt, o) for o in (" yes", " no")]
        assert result.logprobs == pytest.approx(expected, abs=1e-4)  # observed |Δ| 0


def test_scoring_reports_progress_per_row(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    tiny_lm.score([ScoreRequest(p, OPTIONS) for p in PROMPTS], seen.append)
    assert sum(seen) == len(PROMPTS)


def test_generation_is_batched_and_deterministic(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    prompts = ["great film", "the story was fun and the acting"]
    first = tiny_lm.generate(prompts, max_new_tokens=6)
    second = tiny_lm.generate(list(reversed(prompts)), max_new_tokens=6)
    assert [g.text for g in first] == [g.text for g in reversed(second)]
    assert all(0 < g.output_tokens <= 6 for g in first)
    assert first[1].prompt_tokens == len(tiny_lm.encode_prompt(prompts[1]))


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("positive\nReview: x", ["\n"], ("positive", True)),
        ("\n\npositive\nmore", ["\n"], ("\n\npositive", True)),  # a leading stop does not count
        ("no stop here", ["\n"], ("no stop here", False)),
        ("a ### b", ["###", "\n"], ("a ", True)),
        ("   ", ["\n"], ("   ", False)),
    ],
)
def test_cut_at_stop(text: str, stops: list[str], expected: tuple[str, bool]) -> None:
    assert cut_at_stop(text, stops) == expected


def test_chat_template_renders(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    text = tiny_lm.render_chat([{"role": "user", "content": "great film"}])
    assert text.endswith("<|assistant|> ")
    assert tiny_lm.has_chat_template
