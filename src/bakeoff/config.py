"""Config models and config files: strict pydantic models, YAML with line numbers, and one
converter from a pydantic error to a user error that lists every problem.

Every settings model in bakeoff derives from `StrictModel` (unknown keys are errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bakeoff.errors import BakeoffError, Problem, ProblemsError
from bakeoff.yaml_lines import Loc, line_for, load_yaml_with_lines


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def problem_from_error(
    path: Path, lines: dict[Loc, int], err: Mapping[str, Any], docs: str = "docs/tasks.md"
) -> Problem:
    """One pydantic error as a Problem naming the file's line and the field."""
    loc = tuple(err["loc"])
    if err["type"] == "value_error":  # a check across fields: point at the first one it names
        named = [tuple(n.split(".")) for n in re.findall(r"`([a-z_.]+)", err["msg"])]
        candidates = [(*loc, *n) for n in named] + named
        loc = next((c for c in candidates if c in lines), loc)
    field = ".".join(str(part) for part in loc) or None
    if err["type"] == "extra_forbidden":
        message, fix = "unknown field", f"remove it or fix its spelling (see {docs})"
    elif err["type"] == "missing":
        message, fix = "required field is missing", f"add it (see {docs})"
    else:
        message = err["msg"].removeprefix("Value error, ")
        fix = f"correct the value (see {docs})"
    return Problem(str(path), line_for(lines, loc), field, message, fix)


M = TypeVar("M", bound=BaseModel)


def load_config_file(
    path: Path, model: type[M], what: str, keys: str, example: str, docs: str
) -> M:
    """Read a YAML config file into `model` (given base_dir, source_file and the line of each
    top-level key when it has those fields); every problem names its line and field."""
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise BakeoffError(
            f"{path}: expected a mapping of {what} settings ({keys}, …), "
            f"got {type(data).__name__} — see {example}."
        )
    extra: dict[str, Any] = {"base_dir": path.parent, "source_file": path}
    if "key_lines" in model.model_fields:
        extra["key_lines"] = {k[0]: v for k, v in lines.items() if len(k) == 1}
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        problems = [problem_from_error(path, lines, e, docs) for e in exc.errors()]
        raise ProblemsError(f"{path}: invalid {what} file", problems) from None


def _message(err: Mapping[str, Any]) -> str:
    """What a pydantic error says, as bakeoff words it."""
    if err["type"] == "extra_forbidden":
        return "unknown setting"
    return str(err["msg"]).removeprefix("Value error, ")


def problems_in_one_line(exc: ValidationError) -> str:
    """Every problem of a nested settings model on one line, for a validator's own message."""
    return "; ".join(
        f"`{'.'.join(str(x) for x in err['loc'])}` {_message(err)}" for err in exc.errors()
    )


def settings_error(
    exc: ValidationError, where: str, docs: str, flags: bool = False, prefix: str = ""
) -> BakeoffError:
    """Every problem of a settings model as one user error. `where` names the file:line or the
    entry; with `flags`, fields are written as CLI flags (`--lora-r`); `prefix` names the model
    the fields belong to (`lora`)."""
    problems = []
    for err in exc.errors():
        loc = (prefix, *err["loc"]) if prefix else tuple(err["loc"])
        field = ".".join(str(part) for part in loc)
        if flags:  # train.lr -> --lr, lora.r -> --lora-r, strategies.0.demos -> --demos
            skip = {"train", "training", "prompt", "strategies"}
            parts = [str(x) for x in loc if x not in skip and not isinstance(x, int)]
            field = "--" + "-".join(parts).replace("_", "-")
        if err["type"] == "value_error":  # a check across fields: its message names them
            field = ""
        message = _message(err)
        shown = err["type"] not in ("missing", "value_error") and "input" in err
        got = f" (got {err['input']!r})" if shown else ""  # a validator's message says enough
        problems.append(Problem(where, None, field or None, message + got, f"see {docs}"))
    if len(problems) == 1:
        p = problems[0]
        named = f"{p.field}: " if p.field else ""
        return BakeoffError(f"{where}: {named}{p.message} — {p.fix}.")
    return ProblemsError(f"{where}: invalid settings", problems)
