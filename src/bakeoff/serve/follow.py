"""`bakeoff serve DIR` follows the folder's champion: when `bakeoff update` promotes a challenger,
the server loads it beside the candidate that is answering and swaps between micro-batches, so
no request is dropped or answered by half of each.

Checked every `--follow-seconds` (a read of the store) and on `POST /v1/reload`; a pinned
candidate (an artifact folder, or `--candidate`) is never replaced.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakeoff.serve.source import resolve
from bakeoff.strategy import Candidate
from bakeoff.task.spec import TaskSpec


@dataclass(frozen=True)
class Live:
    """What answers now: one candidate and what /info says of it (replaced whole, never
    changed in place, so a batch reads one consistent pair)."""

    candidate: Candidate
    info: dict[str, Any]
    task: TaskSpec  # its own: an update with --extend-labels may have grown the labels


@dataclass
class Follower:
    folder: Path
    live: Live
    allow_remote: bool = False
    device: str = "auto"
    reloads: int = 0
    last_check: float | None = None
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> bool:
        """Load the folder's champion if it is not the one answering; True when swapped. A
        failure keeps the current candidate serving and is shown by /info."""
        from bakeoff.strategy_registry import load_candidate

        with self._lock:  # one load at a time: a reload request and the watch may coincide
            self.last_check = time.time()
            try:
                served = resolve(self.folder)
                if served.info.get("run") == self.live.info.get("run"):
                    self.last_error = None
                    return False
                task, candidate = load_candidate(served.artifact, self.allow_remote, self.device)
            except Exception as exc:  # a half-written store or a missing artifact: try later
                self.last_error = f"{type(exc).__name__}: {exc}"
                return False
            self.live = Live(candidate, served.info, task)  # one reference swap
            self.reloads += 1
            self.last_error = None
            return True

    def status(self, every_seconds: float | None) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "every_seconds": every_seconds,
            "reloads": self.reloads,
            "last_check": self.last_check,
            "last_error": self.last_error,
        }
