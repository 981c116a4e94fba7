"""The shape a generation task's outputs must have (`output:` in the task file): a JSON Schema,
a regular expression or a closed set of strings. Prompting decodes under it (models/ backends:
transformers through llguidance, llama.cpp through its grammar, OpenAI-compatible servers
through `response_format`); the metrics check it (valid-output rate, field-level scores).

llguidance was chosen over xgrammar and outlines: it computes a token mask in tens of
microseconds on one CPU core, covers JSON Schema faithfully, takes regular expressions and
choices as well, ships as one small abi3 wheel with no torch pin, and is what llama.cpp itself
uses for JSON Schema when built with it.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from bakeoff.config import StrictModel
from bakeoff.task.output_bounds import json_bytes, regex_bytes

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

# JSON as json.dumps writes it (what demos show and fine-tuning learns), no other whitespace:
# a small model cannot spend its token budget on spaces, and the output's length is bounded
JSON_FORMAT: JsonCompileOptions = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}
MAX_SHAPE_BUDGET = 4096  # tokens: a constrained decode's budget never grows past this


class OutputSpec(StrictModel):
    """Exactly one of: `json_schema`, `regex`, `choices`."""

    json_schema: dict[str, Any] | None = Field(
        default=None, description="A JSON Schema every output must satisfy (one JSON value)."
    )
    regex: str | None = Field(default=None, description="A regular expression outputs match.")
    choices: list[str] | None = Field(default=None, description="The only outputs allowed.")

    @model_validator(mode="after")
    def _one_valid_shape(self) -> OutputSpec:
        given = [k for k in ("json_schema", "regex", "choices") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of json_schema, regex or choices"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.json_schema is not None:
            from jsonschema import SchemaError, validators

            try:
                validators.validator_for(self.json_schema).check_schema(self.json_schema)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.path) or "the top"
                raise ValueError(
                    f"json_schema: not a valid JSON Schema at {where}: {exc.message}"
                ) from None
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex: does not compile: {exc}") from None
        if self.choices is not None and (
            not self.choices or len(set(self.choices)) != len(self.choices) or "" in self.choices
        ):
            raise ValueError("choices: give a list of distinct, non-empty strings")
        error = self._grammar_error()
        if error:
            raise ValueError(f"{self.kind}: cannot be enforced while decoding: {error}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("json_schema", "regex", "choices") if getattr(self, k) is not None)

    def grammar(self) -> str:
        """The llguidance grammar that enforces it."""
        from llguidance import LLMatcher

        if self.json_schema is not None:
            return str(LLMatcher.grammar_from_json_schema(self.json_schema, defaults=JSON_FORMAT))
        if self.regex is not None:
            return str(LLMatcher.grammar_from_regex(self.regex))
        assert self.choices is not None
        return str(LLMatcher.grammar_from_regex("|".join(re.escape(c) for c in self.choices)))

    @property
    def longest_bytes(self) -> int | None:
        """The longest output this shape allows in UTF-8 bytes; None when it has no bound."""
        if self.json_schema is not None:  # its own x-guidance may allow free whitespace
            return None if "x-guidance" in self.json_schema else json_bytes(self.json_schema)
        if self.regex is not None:
            return regex_bytes(self.regex)
        assert self.choices is not None
        return max(len(c.encode()) for c in self.choices)

    def token_budget(self, asked: int, *, spaced: bool = False) -> int:
        """New tokens for a decode under this shape: at least `asked`, and enough for the
        longest output the shape allows (a token is at least a byte; one more for the end), so
        that no output is cut before its shape is complete — up to MAX_SHAPE_BUDGET. `spaced`:
        the backend's grammar may put one space after any byte (llama.cpp's JSON-Schema
        converter), which at most doubles the output. Unbounded shapes get `asked`."""
        longest = self.longest_bytes
        if longest is None:
            return asked
        return max(asked, min((2 if spaced else 1) * longest + 1, MAX_SHAPE_BUDGET))

    def _grammar_error(self) -> str:
        from llguidance import LLMatcher

        try:
            return str(LLMatcher.validate_grammar(self.grammar()))
        except ValueError as exc:  # a JSON Schema feature llguidance does not support
            return str(exc)

    def parse(self, text: str) -> Any:
        """The output as a JSON value (json_schema), else None when it is not JSON."""
        try:
            return json.loads(text)
        except ValueError:
            return None

    def valid(self, text: str) -> bool:
        """Whether `text` has the declared shape."""
        if self.choices is not None:
            return text in self.choices
        if self.regex is not None:
            return re.fullmatch(self.regex, text) is not None
        value = self.parse(text)
        if value is None and text.strip() != "null":
            return False
        return bool(self._validator.is_valid(value))

    @cached_property
    def _validator(self) -> Any:
        """The JSON Schema's validator, built once (outputs are checked row by row)."""
        from jsonschema import validators

        return validators.validator_for(self.json_schema)(self.json_schema)

    @property
    def _one_property(self) -> str | None:
        """The name of the schema's only property, if it has exactly one."""
        properties = list(((self.json_schema or {}).get("properties") or {}).keys())
        return properties[0] if len(properties) == 1 else None

    def shaped(self, reference: str) -> str:
        """A reference as an output of this shape — what demos show and fine-tuning learns: a
        plain string becomes the one-property object (`{"answer": "…"}`); else as written."""
        name = self._one_property
        if name is None or isinstance(self.parse(reference), dict):
            return reference
        return json.dumps({name: reference}, ensure_ascii=False)

    def reference_fields(self, reference: str) -> dict[str, str] | None:
        """A reference as fields: a JSON object as written, or a plain string as the value of
        the schema's one property (e.g. SQuAD's answers for `{"answer": …}`)."""
        if self.json_schema is None:
            return None
        value = self.parse(reference)
        if isinstance(value, dict):
            return {k: _text(v) for k, v in value.items()}
        name = self._one_property
        return {name: reference} if name is not None else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
