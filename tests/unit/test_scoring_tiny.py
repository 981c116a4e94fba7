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


SHARED_START = (" very good film", " very good", " very bad", " bad", " positive")


def test_option_tree_runs_only_nodes_that_an_option_continues_from() -> None:
    from bakeoff.models.hf_tree import option_tree

    tree = option_tree(((5, 6, 7), (5, 6), (5, 8), (9,)))
    assert tree.node_tokens == (5, 6)  # [5] and [5, 6]; leaves 7, 8, 9 are never run
    assert tree.node_depth.tolist() == [1, 2]
    assert tree.ancestors.tolist() == [[True, False], [True, True]]
    assert tree.reads == (
        ((-1, 5), (0, 6), (1, 7)),
        ((-1, 5), (0, 6)),
        ((-1, 5), (0, 8)),
        ((-1, 9),),
    )


@pytest.mark.parametrize("max_batch_tokens", [30, 2048])  # rows of different lengths padded
def test_option_trees_equal_naive_scoring(tiny_lm, max_batch_tokens: int) -> None:  # type: ignore[no-untyped-def]
    tiny_lm.max_batch_tokens = max_batch_tokens
    results = tiny_lm.score([ScoreRequest(p, SHARED_START) for p in PROMPTS])
    for prompt, result in zip(PROMPTS, results, strict=True):
        expected = [naive_logprob(tiny_lm, prompt, o) for o in SHARED_START]
        # fp32, same process; only the layout differs (one tree per row): |Δ| ≤ 1e-6 observed
        assert result.logprobs == pytest.approx(expected, abs=1e-4)


def test_option_trees_equal_one_sequence_per_option(tiny_lm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    requests = [ScoreRequest(p, SHARED_START) for p in [*PROMPTS, "short", "great film"]]
    ran: list[int] = []
    run_trees = tiny_lm._score_trees
    monkeypatch.setattr(tiny_lm, "_score_trees", lambda *a: ran.append(1) or run_trees(*a))
    trees = tiny_lm.score(requests)
    assert ran  # the tree path ran
    tiny_lm.tree_scoring = False
    try:
        items = tiny_lm.score(requests)
    finally:
        tiny_lm.tree_scoring = True
    for tree, item in zip(trees, items, strict=True):
        assert tree.logprobs == pytest.approx(item.logprobs, abs=1e-4)
        assert tree.n_tokens == item.n_tokens


def test_generation_reuses_the_shared_prefix_with_the_same_outputs(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    prompts = [p.replace("answer :", "the answer is") for p in PROMPTS]
    prompts.append("classify the review : ok")
    assert tiny_lm.shared_prefix_length([tiny_lm.encode_prompt(p) for p in prompts]) > 0
    cached = tiny_lm.generate(prompts, max_new_tokens=8, stop=["\n"])
    tiny_lm.cache_prefix = False  # every prompt run whole
    try:
        whole = tiny_lm.generate(prompts, max_new_tokens=8, stop=["\n"])
    finally:
        tiny_lm.cache_prefix = True
    assert [g.text for g in cached] == [g.text for g in whole]
    assert [g.output_tokens for g in cached] == [g.output_tokens for g in whole]
