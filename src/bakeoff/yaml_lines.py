"""Read a YAML file keeping the line of every key, so errors can name it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bakeoff.errors import BakeoffError

Loc = tuple[str | int, ...]


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            lines[child] = key.start_mark.line + 1
            _walk(value, child, lines)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


MAX_CONFIG_BYTES = 1_000_000  # a config file is settings, not data


def _refuse_aliases(text: str, path: Path) -> None:
    """Anchors and aliases are refused: a few hundred bytes of nested aliases expand to
    billions of nodes (a "YAML bomb"), and a settings file never needs them."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = f":{event.start_mark.line + 1}" if event.start_mark is not None else ""
            raise BakeoffError(
                f"{path}{line}: YAML aliases (*name) are not allowed in "
                "bakeoff files — write the value out in full."
            )


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse `path`; return the data and a map from key path to 1-based line."""
    if path.exists() and not path.is_file():
        raise BakeoffError(f"{path}: not a regular file (a folder or a device) — point at a file.")
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise BakeoffError(
            f"{path}: {path.stat().st_size:,} bytes — a config file holds at most "
            f"{MAX_CONFIG_BYTES:,}; keep data in the data files it names."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BakeoffError(f"{path}: file not found — check the path.") from None
    except UnicodeDecodeError as exc:
        raise BakeoffError(
            f"{path}: not UTF-8 text (byte {exc.start}) — save the file as UTF-8."
        ) from None
    try:
        _refuse_aliases(text, path)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BakeoffError(
            f"{path}{line}: not valid YAML ({problem}) — fix the syntax at that line."
        ) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known prefix of `loc`."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
