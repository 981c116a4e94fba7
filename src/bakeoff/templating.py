"""Sandboxed Jinja rendering for user templates (input templates, instruction wordings)."""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateError(ValueError):
    """A template that does not parse or uses a missing variable."""


def render_template(source: str, variables: dict[str, Any]) -> str:
    """Render `source` in a sandbox: no attribute tricks, no I/O, missing names are errors."""
    try:
        return _ENV.from_string(source).render(**variables)
    except UndefinedError as exc:
        raise TemplateError(f"template uses an undefined name ({exc.message})") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error at line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"template blocked by the sandbox ({exc})") from None
    except Exception as exc:  # the template's own expressions: 1/0, int('x'), …
        raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None


def check_template(source: str) -> str | None:
    """None if `source` parses, else the reason it does not."""
    try:
        _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None
