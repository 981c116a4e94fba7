"""The Python API's server: the ASGI app `bakeoff serve` runs, for mounting in your own server
or testing in-process (docs/serving.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bakeoff.serve.app import ServeSettings


def serve_app(
    folder: str | Path,
    candidate: str | None = None,
    *,
    settings: ServeSettings | None = None,
    allow_remote: bool = False,
) -> tuple[FastAPI, dict[str, Any]]:
    """The app serving `candidate` (a name or run key) from `folder` — an experiment's folder,
    a `run --task` folder or an artifact — and what it serves (name, artifact, run key). A run
    folder served without `candidate` follows its champion, as `bakeoff serve` does; serve it
    with any ASGI server (`uvicorn.run(app, host="127.0.0.1", port=8000)`)."""
    from bakeoff.serve.app import ServeSettings, create_app
    from bakeoff.serve.source import resolve
    from bakeoff.strategy_registry import load_candidate

    where = Path(folder)
    served = resolve(where, candidate)
    settings = settings or ServeSettings()
    task, model = load_candidate(served.artifact, allow_remote, settings.device)
    following = candidate is None and (where / "bakeoff.sqlite").exists()
    follow = where if following else None
    app = create_app(model, task, served.info, settings, follow, allow_remote)
    return app, {"name": served.name, "artifact": served.artifact, "following": following}
