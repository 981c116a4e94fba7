"""One labelled example, with a pointer back to the line it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    id: str  # "file:line", stable across runs
    text: str  # the model's input, rendered from the row's fields
    label: str | None = None  # classification
    references: tuple[str, ...] = ()  # generation: every acceptable output

    @property
    def target(self) -> str:
        """What a model should produce for this row."""
        return self.label if self.label is not None else self.references[0]


def normalize_text(text: str, *, casefold: bool = False) -> str:
    """Whitespace collapsed (and case folded) for duplicate and leakage checks."""
    collapsed = " ".join(text.split())
    return collapsed.casefold() if casefold else collapsed
