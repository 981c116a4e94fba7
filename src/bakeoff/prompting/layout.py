"""How instruction, demos and input become one prompt: chat turns, one inline turn, or plain text.

chat    system = instruction; each demo a user/assistant turn pair; the input a user turn
inline  one user turn holding instruction, demos and input; the answer is the assistant turn
plain   no chat template: "Instruction\\n\\nText: …\\nAnswer: …\\n\\nText: …\\nAnswer:"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bakeoff.models.base import LanguageModel

Format = Literal["chat", "inline", "plain"]


@dataclass(frozen=True)
class Demo:
    text: str
    answer: str  # verbalised label or reference output


@dataclass(frozen=True)
class PromptLayout:
    format: Format
    instruction: str
    input_prefix: str = "Text"
    output_prefix: str = "Answer"

    def _qa(self, text: str, answer: str | None) -> str:
        head = f"{self.input_prefix}: {text}\n{self.output_prefix}:"
        return head if answer is None else f"{head} {answer}"

    def build(self, model: LanguageModel, demos: list[Demo], text: str) -> str:
        """The full prompt; the answer is expected right after it."""
        if self.format == "plain":
            blocks = [self.instruction] if self.instruction else []
            blocks += [self._qa(d.text, d.answer) for d in demos]
            blocks.append(self._qa(text, None))
            return "\n\n".join(blocks)
        if self.format == "inline":
            parts = [self.instruction] if self.instruction else []
            parts += [self._qa(d.text, d.answer) for d in demos]
            parts.append(f"{self.input_prefix}: {text}")
            return model.render_chat([{"role": "user", "content": "\n\n".join(parts)}])
        messages = [{"role": "system", "content": self.instruction}] if self.instruction else []
        for d in demos:
            messages += [
                {"role": "user", "content": d.text},
                {"role": "assistant", "content": d.answer},
            ]
        messages.append({"role": "user", "content": text})
        return model.render_chat(messages)

    def option_text(self, words: str) -> str:
        """An answer as it is scored after the prompt (plain text continues after "Answer:")."""
        return f" {words}" if self.format == "plain" else words


def choose_format(requested: str, model: LanguageModel, kind: str) -> Format:
    """`auto`: plain text for label scoring (measured best on small models), chat for
    generation when the model has a chat template."""
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if kind == "generation" and model.has_chat_template:
        return "chat"
    return "plain"
