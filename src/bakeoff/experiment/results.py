"""results.json: every finished run, rewritten atomically after each one so nothing is lost.

A rerun with the same setup skips runs whose key is already there; a different setup in the
same folder is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsFile:
    def __init__(self, out_dir: Path, setup: dict[str, Any]):
        self.path = out_dir / "results.json"
        self.setup = setup
        self.data: dict[str, Any] = {"setup": setup, "runs": []}
        if self.path.exists():
            try:
                existing = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise BakeoffError(
                    f"{self.path}:{exc.lineno}: not valid JSON — it was not written by this "
                    "version of bakeoff; move it away or use another --out folder."
                ) from None
            if existing.get("setup") != setup:
                raise BakeoffError(
                    f"{self.path}: holds runs from a different setup (task, data, model, seed or "
                    "test limit changed) — use another --out folder so results are not mixed."
                )
            self.data = existing

    def done(self, key: str) -> bool:
        return any(run["key"] == key for run in self.data["runs"])

    @property
    def runs(self) -> list[dict[str, Any]]:
        return list(self.data["runs"])

    def add(self, run: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.data["runs"] = [r for r in self.data["runs"] if r["key"] != run["key"]] + [run]
        self.data.update(extra or {})
        write_json_atomic(self.path, self.data)
