"""The longest output a shape allows, in UTF-8 bytes — so a constrained decode gets a token
budget its shape always fits in (a byte-level tokenizer's token is at least one byte).

Bounded: `maxLength` strings, enums and consts, integers with both limits, booleans and null,
objects without additional properties, arrays with `maxItems`, regexes without unbounded
repeats, closed sets. Anything else (a string without `maxLength`, a free number, `$ref`) has
no bound: its outputs may still be cut by the task's `max_new_tokens`.
"""

from __future__ import annotations

import json
from typing import Any

# a JSON string character: at most 12 bytes (a surrogate pair escaped as two \uXXXX)
JSON_CHAR_BYTES = 12
UTF8_CHAR_BYTES = 4
# Structure around values, at its widest in the grammars used: llguidance's (`, ` and `: `,
# no other whitespace: output.py) and llama.cpp's (an optional space after `{`, `[`, a key,
# `:`, `,`, `]` and `}`)
ITEM_SEPARATOR_BYTES = 2  # ", "
KEY_SEPARATOR_BYTES = 3  # ' : '
BRACKETS_BYTES = 4  # "{ " … "} "


def regex_bytes(pattern: str) -> int | None:
    """The longest match of `pattern` in bytes; None when it repeats without bound."""
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own width computation

    high = int(_parser.parse(pattern).getwidth()[1])
    return None if high >= _parser.MAXREPEAT else high * UTF8_CHAR_BYTES


def _dumped(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _all(bounds: list[int | None]) -> list[int] | None:
    return None if any(b is None for b in bounds) else [b for b in bounds if b is not None]


def json_bytes(schema: Any) -> int | None:
    """The longest JSON value `schema` admits, written with the enforced separators."""
    if not isinstance(schema, dict) or not schema:
        return None
    if "const" in schema:
        return _dumped(schema["const"])
    if "enum" in schema:
        return max(_dumped(v) for v in schema["enum"])
    if any(k in schema for k in ("$ref", "allOf", "not", "if", "patternProperties")):
        return None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            branches = _all([json_bytes({**rest, **b}) for b in schema[key] if isinstance(b, dict)])
            return max(branches) if branches else None
    kind = schema.get("type")
    if isinstance(kind, list):
        each = _all([json_bytes({**schema, "type": k}) for k in kind])
        return max(each) if each else None
    return _typed_bytes(kind, schema)


def _typed_bytes(kind: Any, schema: dict[str, Any]) -> int | None:
    if kind == "boolean":
        return 5
    if kind == "null":
        return 4
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return None if low is None or high is None else max(len(str(int(low))), len(str(int(high))))
    if kind == "string":
        longest = schema.get("maxLength")
        pattern = regex_bytes(schema["pattern"]) if "pattern" in schema else None
        if pattern is not None:  # a regex's bytes back to characters
            longest = min(longest or pattern, pattern // UTF8_CHAR_BYTES)
        return None if longest is None else 2 + JSON_CHAR_BYTES * int(longest)
    if kind == "object":
        if schema.get("additionalProperties", True) is not False:
            return None
        fields = _all(
            [
                _dumped(name) + KEY_SEPARATOR_BYTES + value
                if (value := json_bytes(sub)) is not None
                else None
                for name, sub in (schema.get("properties") or {}).items()
            ]
        )
        if fields is None:
            return None
        return BRACKETS_BYTES + sum(fields) + ITEM_SEPARATOR_BYTES * max(len(fields) - 1, 0)
    if kind == "array":
        items, most = schema.get("items"), schema.get("maxItems")
        if most is None or "prefixItems" in schema:
            return None
        item = json_bytes(items) if items is not None else None
        if item is None:
            return None
        return BRACKETS_BYTES + most * item + ITEM_SEPARATOR_BYTES * max(most - 1, 0)
    return None  # number (decimals without end), or no type
