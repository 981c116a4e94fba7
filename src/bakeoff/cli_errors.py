"""The command line's one error boundary: nothing reaches the user as a raw traceback.

Expected failures (`BakeoffError`, and the OS refusing a path) print one paragraph that says
what to change and exit 2. Anything else is a bug of ours: a short message, the traceback
written to a log file whose path is printed, exit 2.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import typer

from bakeoff.cache import cache_root
from bakeoff.errors import BakeoffError

EXIT_USER = 2
EXIT_INTERRUPTED = 130


def log_dir() -> Path:
    """Where crash logs go: $BAKEOFF_LOG_DIR, else logs/ in bakeoff's cache folder."""
    configured = os.environ.get("BAKEOFF_LOG_DIR")
    return Path(configured) if configured else cache_root() / "logs"


def write_crash_log(exc: BaseException) -> Path:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")


def os_error_message(exc: OSError) -> str:
    """What the OS refused, on which path, and what to do about it."""
    where = exc.filename if exc.filename is not None else "a file"
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        fix = "free some disk space and rerun (finished runs are kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "check its permissions, or choose a path you can read and write"
    elif exc.errno == errno.EISDIR:
        fix = "give a file, not a folder"
    elif exc.errno == errno.ENOTDIR:
        fix = "a part of the path is a file — give a folder there"
    else:
        fix = "check the path"
    return f"{where}: {what} — {fix}."


def _print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", markup=True
    )


@contextmanager
def user_errors() -> Iterator[None]:
    """Every failure ends in a clear paragraph and an exit code, never a traceback."""
    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException):
        raise
    except BakeoffError as exc:
        _print_error(str(exc))
        raise typer.Exit(EXIT_USER) from None
    except KeyboardInterrupt:
        _print_error("interrupted — finished runs are stored; rerun the same command to go on.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        _print_error(os_error_message(exc))
        raise typer.Exit(EXIT_USER) from None
    except Exception as exc:  # a bug of ours: say so briefly, keep the details in a file
        log = write_crash_log(exc)
        _print_error(
            f"unexpected {type(exc).__name__}: {exc} — this is a bakeoff bug, not your input. "
            f"The details are in {log}; please attach that file to a bug report."
        )
        raise typer.Exit(EXIT_USER) from None
