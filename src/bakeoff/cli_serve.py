"""`bakeoff serve`: a candidate over HTTP (the work is in serve/, imported when it runs);
cli.py registers the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bakeoff.cli_errors import user_errors


def serve(
    folder: Annotated[
        Path, typer.Argument(help="Experiment --out folder, `run --task` folder, or an artifact.")
    ],
    candidate: Annotated[
        str | None, typer.Option(help="Candidate name or run key; default: the champion.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option(help="Rows per model call (micro-batch).")] = 32,
    max_queue: Annotated[int, typer.Option(help="Rows waiting before 503.")] = 256,
    batch_wait_ms: Annotated[float, typer.Option(help="How long a row waits for company.")] = 5,
    max_inputs: Annotated[int, typer.Option(help="Rows per request.")] = 64,
    max_input_chars: Annotated[int, typer.Option(help="Characters per input.")] = 4000,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bearer token (if set).")
    ] = "BAKEOFF_SERVE_TOKEN",
    allow_remote: Annotated[
        bool, typer.Option(help="Allow a candidate whose model is a remote API endpoint.")
    ] = False,
    follow_seconds: Annotated[
        float,
        typer.Option(
            help="A run folder: check for a champion promoted by `bakeoff update` this often "
            "and swap to it between micro-batches (0: only on POST /v1/reload)."
        ),
    ] = 10.0,
    device: Annotated[
        str,
        typer.Option(
            help="Where the candidate runs: auto (a GPU when there is one), cpu, cuda or cuda:N."
        ),
    ] = "auto",
) -> None:
    """Serve a candidate over HTTP: POST /v1/predict, GET /health, GET /info, POST /v1/reload.
    Serving a run folder without --candidate follows its champion (docs/serving.md)."""
    import os

    from bakeoff.api_serve import serve_app
    from bakeoff.cli_output import console
    from bakeoff.serve.app import ServeSettings

    with user_errors():
        token = os.environ.get(token_env) or None
        settings = ServeSettings(
            max_batch,
            max_queue,
            batch_wait_ms,
            max_inputs,
            max_input_chars,
            token,
            follow_seconds or None,
            device,
        )
        api, served = serve_app(folder, candidate, settings=settings, allow_remote=allow_remote)
    import uvicorn

    auth = f"bearer token from ${token_env}" if token else "none"
    how = (
        f"; following the folder's champion (every {follow_seconds:g} s and POST /v1/reload)"
        if served["following"]
        else ""
    )
    console.print(f"serving {served['name']} on http://{host}:{port} (auth: {auth}){how}")
    uvicorn.run(api, host=host, port=port, log_level="warning")
