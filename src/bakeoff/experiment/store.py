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

from pydantic import ValidationError

from bakeoff.atomic import write_json_atomic
from bakeoff.config import problems_in_one_line
from bakeoff.errors import BakeoffError
from bakeoff.experiment.record import RunRecord
from bakeoff.experiment.spec import ExperimentSpec

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
CREATE TABLE IF NOT EXISTS versions (number INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS update_runs (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS promotions (version INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    label TEXT NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (key, attempt)
);
"""
STORE_NAME = "bakeoff.sqlite"


LOCK_NAME = ".bakeoff.lock"


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """One writer per output folder: a second `bakeoff run` on it refuses instead of computing
    everything twice and training into the same checkpoints. The OS drops the lock when the
    process ends, however it ends (kill -9 included), so a stale lock never blocks a rerun."""
    if folder.exists() and not folder.is_dir():
        raise BakeoffError(
            f"{folder}: is a file, not a folder — give --out a folder (new or one of bakeoff's)."
        )
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


SETUP_NAME = "setup.json"  # the setup and experiment again, beside the store, for `rebuild`
RECORD_NAME = "record.json"  # each run's record again, in its folder, for `rebuild`


def _damaged(path: Path, exc: sqlite3.Error) -> BakeoffError:
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK) and "readonly" in str(exc):
        return BakeoffError(
            f"{path}: the store is read-only ({exc}) — make it writable (chmod u+w) or copy the "
            "folder somewhere you can write."
        )
    return BakeoffError(
        f"{path}: the store is damaged or not a bakeoff store ({exc}) — rebuild it from the "
        f"runs' folders with `bakeoff rebuild {folder}` (the damaged file is kept aside)."
    )


@contextmanager
def _guarded(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _damaged(path, exc) from None


class RunStore:
    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with _guarded(path):
            self.conn = sqlite3.connect(path, timeout=30)
            if read_only:  # fail now, not at the first query, on a file that is no database
                self.conn.execute("SELECT 1 FROM sqlite_master").fetchone()
            else:  # the driver alone writes (extra torchrun processes only read)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.executescript(SCHEMA)

    @classmethod
    def open_existing(cls, folder: Path) -> RunStore:
        """The store of an output folder, for reading (status, report, advise, serve)."""
        path = folder / STORE_NAME
        if not path.exists():
            raise BakeoffError(
                f"{folder}: no {STORE_NAME} here — run `bakeoff run experiment.yaml --out "
                f"{folder}` first, or point at the folder you gave as --out."
            )
        return cls(path, read_only=True)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> Any:
        with _guarded(self.path):
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            return None if row is None else json.loads(row[0])
        except json.JSONDecodeError as exc:
            raise _damaged(self.path, sqlite3.DatabaseError(f"meta '{key}': {exc}")) from None

    def experiment(self) -> dict[str, Any]:
        """The recorded experiment, its task path fixed up when the folders were moved together
        (the task is then found at its recorded place relative to the store)."""
        raw = self.meta("experiment")
        if not isinstance(raw, dict) or "task" not in raw:
            raise BakeoffError(
                f"{self.path}: no experiment recorded in this store — rerun `bakeoff run` into "
                "this folder, or point at the folder you gave as --out."
            )
        relative = raw.pop("task_from_store", None)
        try:
            ExperimentSpec.model_validate(raw)  # a tampered record is damage, not user error
        except ValidationError as exc:
            reason = f"the recorded experiment is invalid: {problems_in_one_line(exc)}"
            raise _damaged(self.path, sqlite3.DatabaseError(reason)) from None
        if not Path(raw["task"]).exists() and isinstance(relative, str):
            moved = os.path.normpath(self.path.parent.resolve() / relative)
            if Path(moved).exists():
                raw["task"] = moved
        return raw

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
        write_json_atomic(self.path.parent / SETUP_NAME, {"setup": setup, "experiment": spec})
        with _guarded(self.path), self.conn:
            for key, value in (("setup", setup), ("experiment", spec)):
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, json.dumps(value, default=str)),
                )

    def done_keys(self) -> set[str]:
        if not self._has_runs_table():
            return set()
        with _guarded(self.path):
            return {row[0] for row in self.conn.execute("SELECT key FROM runs")}

    def count(self) -> int:
        return len(self.done_keys())

    def add(self, record: RunRecord) -> None:
        with _guarded(self.path), self.conn:  # one transaction: the whole row or nothing
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
        with _guarded(self.path):
            rows = self.conn.execute("SELECT record FROM runs ORDER BY finished_at").fetchall()
        try:
            return [RunRecord.from_json(json.loads(row[0])) for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged(self.path, sqlite3.DatabaseError(f"a run's record: {exc}")) from None

    # --- failed attempts (the Ray executor): a run that failed is not done; a rerun retries ---

    def add_failure(self, key: str, label: str, attempt: int, error: str) -> None:
        with _guarded(self.path), self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                (key, attempt, label, error, time.time()),
            )

    def failures(self) -> list[dict[str, Any]]:
        """Every failed attempt, oldest first, each saying whether its run finished since."""
        done = self.done_keys()
        rows = self._table_rows("SELECT key, attempt, label, error FROM failures ORDER BY at")
        return [
            {"key": k, "attempt": a, "label": label, "error": e, "recovered": k in done}
            for k, a, label, e in rows
        ]

    # --- data versions (bakeoff update): the experiment's own runs above stay untouched ---

    def _table_rows(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        name = query.split(" FROM ")[1].split()[0]
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        with _guarded(self.path):
            if self.conn.execute(exists, (name,)).fetchone() is None:
                return []  # a store written before updates existed
            return self.conn.execute(query, args).fetchall()

    def versions(self) -> list[dict[str, Any]]:
        """Data versions added by `bakeoff update` (2, 3, …), oldest first."""
        rows = self._table_rows("SELECT record FROM versions ORDER BY number")
        return [json.loads(r[0]) for r in rows]

    def put_version(self, record: dict[str, Any]) -> None:
        self._put_numbered("versions", record["number"], record, "record")

    def _put_numbered(self, table: str, number: int, record: dict[str, Any], kind: str) -> None:
        """A version's record or decision: in the store, and kept as versions/vN.KIND.json so
        `bakeoff rebuild` can restore it."""
        write_json_atomic(self.path.parent / "versions" / f"v{number}.{kind}.json", record)
        with _guarded(self.path), self.conn:
            self.conn.execute(
                f"INSERT OR REPLACE INTO {table} VALUES (?, ?)",
                (number, json.dumps(record, ensure_ascii=False)),
            )

    def update_runs(self, version: int | None = None) -> list[RunRecord]:
        """Runs of challengers re-adapted on a data version (all versions when None)."""
        query = "SELECT record FROM update_runs ORDER BY finished_at"
        rows = self._table_rows(query)
        records = [RunRecord.from_json(json.loads(r[0])) for r in rows]
        return [r for r in records if version is None or r.data_version == version]

    def add_update_run(self, record: RunRecord) -> None:
        with _guarded(self.path), self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO update_runs VALUES (?, ?, ?, ?)",
                (record.key, record.data_version, time.time(), json.dumps(record.to_json())),
            )

    def promotions(self) -> list[dict[str, Any]]:
        """Each update's decision (promote or keep, with its reasons), oldest first."""
        rows = self._table_rows("SELECT record FROM promotions ORDER BY version")
        return [json.loads(r[0]) for r in rows]

    def last_promotion(self, before: int | None = None) -> tuple[dict[str, Any], RunRecord] | None:
        """The last update that promoted a challenger (of a version below `before`, if given):
        its decision record and the promoted run; None while the experiment's pick holds."""
        promoted = [
            p
            for p in self.promotions()
            if p["decision"]["promoted_key"] and (before is None or p["version"] < before)
        ]
        if not promoted:
            return None
        key = promoted[-1]["decision"]["promoted_key"]
        return promoted[-1], next(r for r in self.update_runs() if r.key == key)

    def put_promotion(self, record: dict[str, Any]) -> None:
        self._put_numbered("promotions", record["version"], record, "decision")

    def _has_runs_table(self) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        with _guarded(self.path):
            return self.conn.execute(query).fetchone() is not None

    def integrity(self) -> str:
        """ "ok", or what SQLite found wrong with the file."""
        try:
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
        except sqlite3.Error as exc:
            return str(exc)


def save_record(run_dir: Path, record: RunRecord) -> None:
    """The run's record in its own folder too: the store can be rebuilt from these."""
    write_json_atomic(run_dir / RECORD_NAME, record.to_json())


def rebuild(folder: Path) -> tuple[int, list[str], Path | None]:
    """A new store from `setup.json` and every `runs/*/record.json`; the old file (if any) is
    moved aside. Returns (runs restored, unreadable record files, where the old store went)."""
    try:
        saved = json.loads((folder / SETUP_NAME).read_text(encoding="utf-8"))
        setup, spec = saved["setup"], saved["experiment"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BakeoffError(
            f"{folder / SETUP_NAME}: cannot rebuild without it ({type(exc).__name__}: {exc}) — "
            "rerun the experiment into this folder: finished runs are recomputed."
        ) from None
    with exclusive(folder):
        aside = None
        path = folder / STORE_NAME
        if path.exists():
            aside = path.with_name(f"{STORE_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            path.rename(aside)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = RunStore(path)
        store.claim_setup(setup, spec)
        restored, unreadable = 0, []
        for record_file in sorted(
            (folder / "runs").glob(f"*/{RECORD_NAME}"), key=lambda p: p.stat().st_mtime
        ):
            try:
                record = RunRecord.from_json(json.loads(record_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                unreadable.append(str(record_file))
                continue
            if record.data_version == 1:
                store.add(record)
            else:  # a challenger of `bakeoff update`: beside the experiment's runs, as before
                store.add_update_run(record)
            restored += 1
        for saved_record in sorted((folder / "versions").glob("v*.record.json")):
            store.put_version(json.loads(saved_record.read_text(encoding="utf-8")))
        for saved_record in sorted((folder / "versions").glob("v*.decision.json")):
            store.put_promotion(json.loads(saved_record.read_text(encoding="utf-8")))
        store.close()
    return restored, unreadable, aside
