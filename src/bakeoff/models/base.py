"""The interface every language-model backend offers to strategies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bakeoff.task.output import OutputSpec

Progress = Callable[[int], None]  # called with the number of rows just finished


@dataclass(frozen=True)
class ScoreRequest:
    prompt: str
    options: tuple[str, ...]  # continuations scored after the prompt


@dataclass(frozen=True)
class OptionScores:
    logprobs: tuple[float, ...]  # summed log-probability of each option's tokens
    n_tokens: tuple[int, ...]  # tokens in each option
    prompt_tokens: int


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    output_tokens: int


class LanguageModel(Protocol):
    name: str
    n_parameters: int
    # the backend's grammar may put a space after each token of a shaped output, so a complete
    # output can take twice the tokens (llama.cpp's and servers' JSON-Schema converters)
    shape_spaced: bool

    @property
    def has_chat_template(self) -> bool: ...

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text for `messages`, ending where the assistant's answer starts."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def score(
        self, requests: Sequence[ScoreRequest], progress: Progress | None = None
    ) -> list[OptionScores]: ...

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
        constraint: OutputSpec | None = None,  # every output of this shape (task/output.py)
    ) -> list[Generation]: ...


class NextTokenModel(Protocol):
    """A backend that can show its next-token distribution (prompt search mines label words
    from it); optional: a model without it is searched without mined words."""

    def next_tokens(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        """For each prompt, the `top_k` most likely next tokens (their text, a leading space
        included) and their log-probabilities."""
        ...


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the first stop string that comes after some content.

    A stop string at the very start (e.g. a leading newline) does not end an empty answer.
    """
    start = len(text) - len(text.lstrip())  # index of the first non-blank character
    hits = [i for s in stop if s and (i := text.find(s, start)) >= 0]
    if not hits:
        return text, False
    return text[: min(hits)], True


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix shared by all sequences, leaving each at least one token."""
    if not sequences:
        return 0
    first = sequences[0]
    limit = min(len(s) for s in sequences) - 1
    n = 0
    while n < limit and all(s[n] == first[n] for s in sequences):
        n += 1
    return max(n, 0)
