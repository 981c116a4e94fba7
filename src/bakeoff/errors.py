"""User-facing errors: each names the file, line and field and says what to do.

The CLI turns any `BakeoffError` into a short paragraph and exit code 2 (never a traceback).
"""

from __future__ import annotations

from dataclasses import dataclass


class BakeoffError(Exception):
    """An error caused by the user's input or setup, with a fix in its message."""


@dataclass(frozen=True)
class Problem:
    """One problem in a user's file: where it is, what is wrong, how to fix it."""

    file: str
    line: int | None
    field: str | None
    message: str
    fix: str

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message} — {self.fix}"


class ProblemsError(BakeoffError):
    """Several problems found at once; all are listed, not just the first."""

    def __init__(self, headline: str, problems: list[Problem], max_listed: int = 25) -> None:
        self.headline = headline
        self.problems = problems
        listed = [f"  - {p.render()}" for p in problems[:max_listed]]
        more = len(problems) - max_listed
        if more > 0:
            listed.append(f"  … and {more} more of the same kinds.")
        super().__init__(f"{headline} ({len(problems)} problem(s)):\n" + "\n".join(listed))


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise a BakeoffError saying which extra to install when `module` is missing."""
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise BakeoffError(
            f"{feature} needs `{module}`, which is not installed — run "
            f"`pip install 'bakeoff[{extra}]'` (or `make install`, which installs every extra)."
        )
