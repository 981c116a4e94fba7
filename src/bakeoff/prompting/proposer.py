"""Instructions written by a proposer model (any backend string: a larger local model, a
llama.cpp GGUF, an OpenAI-compatible endpoint), prompted with the task, its labels, the
leading instruction and examples it gets wrong on training rows — as in APE / OPRO, without
which the search works as well: a 135M model writes poor instructions, so proposals only join
the race and must win it there.

What comes back is cleaned (first paragraph, no "Instruction:" prefix or quotes) and kept only
when it is usable: 15 to 600 characters, letters in it, not a repeat. Proposed text is used as
it is, never rendered as a template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bakeoff.models.base import LanguageModel
from bakeoff.task.example import Example
from bakeoff.task.spec import TaskSpec

MAX_NEW_TOKENS = 96
TEMPERATURE = 0.8
MIN_CHARS, MAX_CHARS = 15, 600

META_PROMPT = """You write instructions for a small language model.
Task: {description}
{answers}
Current instruction: "{leader}"
Examples it gets wrong:
{errors}
Write one better instruction: a short paragraph telling the model how to answer.
Reply with the instruction only."""


def meta_prompt(task: TaskSpec, leader: str, errors: Sequence[Example]) -> str:
    if task.kind == "classification":
        labels = "; ".join(
            f"{label.words} ({label.description})" if label.description else label.words
            for label in task.labels or []
        )
        answers = f"Labels: {labels}"
        shown = [f'- "{ex.text[:300]}" is {ex.label}' for ex in errors]
    else:
        answers = "Answers: free text, scored against references."
        shown = [f'- "{ex.text[:300]}" -> "{ex.target[:200]}"' for ex in errors]
    return META_PROMPT.format(
        description=task.description or task.name,
        answers=answers,
        leader=leader,
        errors="\n".join(shown) or "- (none)",
    )


def clean(text: str) -> str | None:
    """The instruction in a proposer's reply, or None when the reply is unusable."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if not paragraphs:
        return None
    first = re.sub(r"^(new |better |improved )?instruction\s*:\s*", "", paragraphs[0], flags=re.I)
    first = " ".join(first.split()).strip("\"'` ")
    if not MIN_CHARS <= len(first) <= MAX_CHARS or not re.search(r"[^\W\d_]{3}", first):
        return None
    return first


def propose(
    task: TaskSpec,
    proposer: LanguageModel,
    leader: str,
    errors: Sequence[Example],
    calls: int,
    seed: int,
) -> tuple[list[str], list[str]]:
    """(usable instructions without repeats, every raw reply): one sampled reply per call,
    each with its own seed."""
    text = meta_prompt(task, leader, errors)
    prompt = (
        proposer.render_chat([{"role": "user", "content": text}])
        if proposer.has_chat_template
        else f"{text}\nInstruction:"
    )
    usable: list[str] = []
    replies: list[str] = []
    for i in range(calls):
        [reply] = proposer.generate(
            [prompt], max_new_tokens=MAX_NEW_TOKENS, temperature=TEMPERATURE, seed=seed + i
        )
        replies.append(reply.text)
        instruction = clean(reply.text)
        if instruction is not None and instruction not in usable and instruction != leader:
            usable.append(instruction)
    return usable, replies
