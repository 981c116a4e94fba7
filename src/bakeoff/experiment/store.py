"""The run store: one SQLite file next to the outputs, a row per finished run.

A run's row is written in one transaction when the run has finished, so a crash at any moment
(`kill -9` included) leaves either the whole row or none; a rerun skips every key present.
The file also records the setup (task, data fingerprint, test rows); a store made under another
setup is refused rather than mixed in.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.experiment.record import RunRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    strategy TEXT NOT NULL,
    model TEXT NOT NULL,
    train_size INTEGER,
    seed INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    record TEXT NOT NULL
);
"""
STORE_NAME = "bakeoff.sqlite"


LOCK_NAME = ".bakeoff.lock"


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """One writer per output folder: a second `bakeoff run` on it refuses instead of computing
    everything twice and training into the same checkpoints. The OS drops the lock when the
    process ends, however it ends (kill -9 included), so a stale lock never blocks a rerun."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BakeoffError(
                f"{folder}: another `bakeoff run` ({holder}) is writing here — wait for it to "
                "finish (then rerun to pick up what is left), or use another --out folder."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class RunStore:
    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=30)
        if not read_only:  # the driver alone writes (extra torchrun processes only read)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)

    @classmethod
    def open_existing(cls, folder: Path) -> RunStore:
        path = folder / STORE_NAME
        if not path.exists():
            raise BakeoffError(
                f"{folder}: no {STORE_NAME} here — run `bakeoff run experiment.yaml --out "
                f"{folder}` first, or point at the folder you gave as --out."
            )
        return cls(path)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def claim_setup(self, setup: dict[str, Any], spec: dict[str, Any]) -> None:
        """Record the setup, or refuse if this store holds runs of another one."""
        existing = self.meta("setup")
        if existing is not None and existing != setup and self.count():
            keys = setup.keys() | existing.keys()
            changed = sorted(k for k in keys if setup.get(k) != existing.get(k))
            raise BakeoffError(
                f"{self.path}: holds runs of a different setup ({', '.join(changed)} changed) — "
                "use another --out folder so results are not mixed."
            )
        with self.conn:
            for key, value in (("setup", setup), ("experiment", spec)):
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, json.dumps(value, default=str)),
                )

    def done_keys(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT key FROM runs")}

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def add(self, record: RunRecord) -> None:
        with self.conn:  # one transaction: the whole row or nothing
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.label,
                    record.strategy,
                    record.model,
                    record.train_size,
                    record.seed,
                    time.time(),
                    json.dumps(record.to_json(), ensure_ascii=False),
                ),
            )

    def runs(self) -> list[RunRecord]:
        if not self._has_runs_table():
            return []
        rows = self.conn.execute("SELECT record FROM runs ORDER BY finished_at")
        return [RunRecord.from_json(json.loads(row[0])) for row in rows]

    def _has_runs_table(self) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        return self.conn.execute(query).fetchone() is not None

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
