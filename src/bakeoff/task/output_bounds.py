"""The longest output a shape allows, in UTF-8 bytes — so a constrained decode gets a token
budget its shape always fits in (a byte-level tokenizer's token is at least one byte).

Bounded: `maxLength` strings, enums and consts (without decimals), integers with both limits,
booleans and null, objects without additional properties, arrays with `maxItems`, regexes
without unbounded repeats, closed sets. Anything else (a string without `maxLength` — a
`pattern` is searched, not anchored, so it bounds nothing —, a free number, `$ref`, a schema
with its own `x-guidance` whitespace) has no bound: outputs may be cut by `max_new_tokens`.
The bound follows llguidance's JSON grammar (the transformers backend's).
"""

from __future__ import annotations

from typing import Any

# a JSON string character: at most 6 bytes (\uXXXX; llguidance takes no surrogate escapes,
# and raw UTF-8 is at most 4)
JSON_CHAR_BYTES = 6
UTF8_CHAR_BYTES = 4
# Structure around values, with room to spare over llguidance's compact JSON (`, ` and `: `,
# no other whitespace: output.py)
ITEM_SEPARATOR_BYTES = 2  # ", "
KEY_SEPARATOR_BYTES = 3  # ' : '
BRACKETS_BYTES = 4  # "{ " … "} "


def regex_bytes(pattern: str) -> int | None:
    """The longest match of `pattern` in bytes; None when it repeats without bound."""
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own width computation

    high = int(_parser.parse(pattern).getwidth()[1])
    return None if high >= _parser.MAXREPEAT else high * UTF8_CHAR_BYTES


def literal_bytes(value: Any) -> int | None:
    """A JSON value (a `const` or `enum` entry) as llguidance writes it, at its widest; None
    for decimals (`1e-07` is written `0.0000001`: no cheap bound)."""
    if isinstance(value, bool):
        return 5
    if value is None:
        return 4
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, str):
        return 2 + JSON_CHAR_BYTES * len(value)
    if isinstance(value, list):
        items = _all([literal_bytes(v) for v in value])
        return None if items is None else _joined(items)
    if isinstance(value, dict):
        fields = _all([_field_bytes(str(k), literal_bytes(v)) for k, v in value.items()])
        return None if fields is None else _joined(fields)
    return None


def _field_bytes(name: str, value: int | None) -> int | None:
    """`"name": value` at its widest, given the value's bound."""
    return None if value is None else 2 + JSON_CHAR_BYTES * len(name) + KEY_SEPARATOR_BYTES + value


def _joined(parts: list[int]) -> int:
    return BRACKETS_BYTES + sum(parts) + ITEM_SEPARATOR_BYTES * max(len(parts) - 1, 0)


def _all(bounds: list[int | None]) -> list[int] | None:
    return None if any(b is None for b in bounds) else [b for b in bounds if b is not None]


def json_bytes(schema: Any) -> int | None:
    """The longest JSON value `schema` admits, written with the enforced separators."""
    if not isinstance(schema, dict) or not schema:
        return None
    if "const" in schema:
        return literal_bytes(schema["const"])
    if "enum" in schema:
        values = _all([literal_bytes(v) for v in schema["enum"]])
        return max(values) if values else None
    if any(k in schema for k in ("$ref", "allOf", "not", "if", "patternProperties")):
        return None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            branches = schema[key]
            if not all(isinstance(b, dict) for b in branches) or (
                "properties" in rest and any("properties" in b for b in branches)
            ):
                return None  # a `true` branch admits anything; merged properties: no bound
            bounds = _all([json_bytes({**rest, **b}) for b in branches])
            return max(bounds) if bounds else None
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
        return None if longest is None else 2 + JSON_CHAR_BYTES * int(longest)
    if kind == "object":
        if schema.get("additionalProperties", True) is not False:
            return None
        properties = (schema.get("properties") or {}).items()
        fields = _all([_field_bytes(name, json_bytes(sub)) for name, sub in properties])
        return None if fields is None else _joined(fields)
    if kind == "array":
        items, most = schema.get("items"), schema.get("maxItems")
        if most is None or "prefixItems" in schema:
            return None
        item = json_bytes(items) if items is not None else None
        return None if item is None else _joined([item] * most)
    return None  # number (decimals without end), or no type
