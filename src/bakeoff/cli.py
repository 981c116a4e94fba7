"""The `bakeoff` command line: thin — parses, calls the library, prints.

    bakeoff validate examples/sst2/task.yaml
    bakeoff run --task examples/sst2/task.yaml --strategy zero-shot --strategy few-shot \\
        --demos knn --limit-test 200 --out runs/sst2
    bakeoff models
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bakeoff.cli_errors import user_errors
from bakeoff.cli_maintenance import drift, update
from bakeoff.cli_serve import serve
from bakeoff.errors import BakeoffError
from bakeoff.finetuning.config import LORA_TARGET_WORDS
from bakeoff.strategy_registry import strategy_names

STRATEGY_HELP = (
    f"Repeat for several: {', '.join(strategy_names())} (read from the strategy registry; "
    "`bakeoff strategies` explains each)."
)

app = typer.Typer(
    help="Prompt engineering or fine-tuning? Measure both on your data, with costs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _parse_int_list(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BakeoffError(
            f"--{what} '{text}': expected comma-separated numbers, e.g. 0,1,2"
        ) from None


@app.command()
def validate(
    task_file: Annotated[Path, typer.Argument(help="The task file (task.yaml).")],
    drop_invalid: Annotated[
        bool, typer.Option("--drop-invalid", help="Drop bad rows (with counts) instead of failing.")
    ] = False,
) -> None:
    """Check a task file and its data; list every problem with file, line and field."""
    from bakeoff.api import load_task
    from bakeoff.api_catalog import load_data
    from bakeoff.cli_output import print_data_summary

    with user_errors():
        task = load_task(task_file)
        print_data_summary(task, load_data(task, drop_invalid=drop_invalid))


@app.command()
def run(
    experiment: Annotated[
        Path | None,
        typer.Argument(help="An experiment file (experiment.yaml): runs its whole grid."),
    ] = None,
    task_file: Annotated[
        Path | None,
        typer.Option("--task", "-t", help="Without an experiment file: the task to run on."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (default for an experiment: runs/<its name>)."
        ),
    ] = None,
    strategy: Annotated[
        list[str],
        typer.Option("--strategy", "-s", help=STRATEGY_HELP),
    ] = ["zero-shot"],  # noqa: B006 — typer needs a list default
    model: Annotated[
        str,
        typer.Option(
            help="Bundled name, local folder, .gguf file or hub id (transformers); "
            "llama.cpp:NAME-or-GGUF[:f16|bf16|q8_0|f32, re-encoded once]; "
            "openai:MODEL@BASE_URL (docs/models.md)."
        ),
    ] = "smollm2-135m-instruct",
    demos: Annotated[
        list[str],
        typer.Option(
            help="Few-shot demos: random, stratified, diverse (far apart), knn, knn-balanced "
            "(the nearest rows of each label in turn); repeatable."
        ),
    ] = ["random"],  # noqa: B006
    shots: Annotated[int, typer.Option(help="Demos per prompt for few-shot.")] = 8,
    prompt_format: Annotated[
        str, typer.Option("--format", help="auto, chat, inline or plain (see docs/prompting.md).")
    ] = "auto",
    wordings: Annotated[
        str, typer.Option(help="Instruction wordings to try, e.g. 0,1,2.")
    ] = "0,1,2",
    decode: Annotated[
        str,
        typer.Option(
            help="Classification: score (label likelihood) or generate. A task with `output:` "
            "decodes under its shape; free: without it."
        ),
    ] = "score",
    normalize: Annotated[
        str, typer.Option(help="Label scoring: mean (per token) or sum.")
    ] = "mean",
    calibrate: Annotated[
        bool, typer.Option(help="Contextual calibration of label scores.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for demo sampling, sub-sampling and CIs.")] = 0,
    train_size: Annotated[
        int | None, typer.Option(help="Cap the train split at N rows (stratified).")
    ] = None,
    limit_test: Annotated[
        int | None, typer.Option(help="Score only N test rows (stratified sample).")
    ] = None,
    drop_invalid: Annotated[bool, typer.Option(help="Drop bad rows instead of failing.")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow model code from the model folder.")
    ] = False,
    epochs: Annotated[
        float | None,
        typer.Option(help="Training epochs (default: chosen by data size, docs/finetuning.md)."),
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default per method).")] = None,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    max_length: Annotated[
        int | None,
        typer.Option(help="Longest training row, tokens (default: the model's context)."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop training after N steps.")] = None,
    min_steps: Annotated[
        int | None,
        typer.Option(help="Steps before early stopping may end training (default by data size)."),
    ] = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Validate every N optimizer steps (default: ~10 a run).")
    ] = None,
    eval_rows: Annotated[
        int | None, typer.Option(help="Validation rows per evaluation (default: up to 200).")
    ] = None,
    patience: Annotated[int, typer.Option(help="Evaluations without gain before stopping.")] = 3,
    label_list: Annotated[
        str,
        typer.Option(
            help="Trained runs' instruction: auto (lists the labels up to 20 of them), keep, drop."
        ),
    ] = "auto",
    precision: Annotated[
        str,
        typer.Option(
            help="Training: auto (on a CPU the faster one, measured here; on a GPU bf16, else "
            "fp16 with loss scaling), fp32, bf16, fp16."
        ),
    ] = "auto",
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 16,
    lora_dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    lora_targets: Annotated[
        str,
        typer.Option(
            help="LoRA layers: names (a,b,…), attention, all-linear, or auto (all-linear "
            "for classification, attention for generation)."
        ),
    ] = "auto",
    virtual_tokens: Annotated[int, typer.Option(help="Prompt tuning: soft-prompt length.")] = 16,
    search_calls: Annotated[
        int, typer.Option(help="prompt-search: model scoring requests the search may make.")
    ] = 4000,
    threads: Annotated[
        int | None, typer.Option(help="llama.cpp backend: CPU threads (default: all).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="openai backend: requests in flight.")] = 4,
    inference_precision: Annotated[
        str,
        typer.Option(
            help="transformers scoring/generation: auto (measured on a CPU; bf16 or fp16 on a "
            "GPU), fp32, bf16, fp16."
        ),
    ] = "auto",
    device: Annotated[
        str | None,
        typer.Option(
            help="transformers models and training: auto (the first CUDA GPU, else the CPU), "
            "cpu, cuda, cuda:N; default: the experiment's `backend.device`, else auto."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors and the final summary.")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            help="Print each trained run's schedule (steps, lr, evaluations) and why, then stop "
            "without training."
        ),
    ] = False,
    mlflow: Annotated[
        str | None,
        typer.Option(
            help="Log every run to this MLflow tracking URI (e.g. sqlite:///mlflow.db) and "
            "register the champion; needs bakeoff[mlflow]."
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="local (in this process) or ray (each run a Ray task; needs bakeoff[ray]); "
            "default: the experiment's `executor:`, else local."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="With --executor ray: a running cluster (auto, HOST:6379, ray://HOST:10001); "
            "default: start one on this machine, on 127.0.0.1."
        ),
    ] = None,
) -> None:
    """Run a bake-off. With EXPERIMENT: the whole grid of the experiment file (strategies ×
    train sizes × seeds × wordings); with --task: the strategies given here. Either way the
    runs go into DIR/bakeoff.sqlite, then the report (report.html / .md / .json, and
    results.json with every run) and the recommendation. Interrupted runs resume: rerun the
    same command. `--strategy` takes any registered strategy (list: `bakeoff strategies`).
    """
    from bakeoff.cli_output import set_quiet

    set_quiet(quiet)
    chosen: dict[str, Any] = {"kind": executor} if executor else {}
    if ray_address:
        chosen |= {"kind": "ray", "address": ray_address}
    if experiment is not None:
        from bakeoff.cli_experiment import run_experiment

        with user_errors():
            run_experiment(
                experiment,
                out,
                trust_remote_code,
                explain=explain,
                mlflow=mlflow,
                executor=chosen,
                device=device,
            )
        return
    from bakeoff.cli_experiment import run_task

    with user_errors():
        if task_file is None or out is None:
            raise BakeoffError(
                "give an experiment file (bakeoff run experiment.yaml) or both --task and --out."
            )
        train: dict[str, Any] = {
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "grad_accum": grad_accum,
            "max_length": max_length,
            "max_steps": max_steps,
            "min_steps": min_steps,
            "eval_every": eval_every,
            "eval_rows": eval_rows,
            "patience": patience,
            "precision": precision,
            "label_list": label_list,
        }
        own_settings: dict[str, dict[str, Any]] = {  # for the strategies that registered the key
            "lora": {
                "r": lora_r,
                "dropout": lora_dropout,
                "alpha": lora_alpha,
                "target_modules": lora_targets
                if lora_targets in LORA_TARGET_WORDS
                else lora_targets.split(","),
            },
            "prompt_tuning": {"virtual_tokens": virtual_tokens},
            "search": {"max_calls": search_calls},
        }
        run_task(
            task_file,
            out,
            strategies=strategy,
            model=model,
            demos=demos,
            prompt={
                "format": prompt_format,
                "decode": decode,
                "normalize": normalize,
                "calibrate": calibrate,
                "shots": shots,
            },
            wordings=_parse_int_list(wordings, "wordings"),
            seed=seed,
            train_size=train_size,
            limit_test=limit_test,
            drop_invalid=drop_invalid,
            training={k: v for k, v in train.items() if v is not None},
            own_settings=own_settings,
            backend=_backend_options(
                trust_remote_code, threads, concurrency, inference_precision, device or "auto"
            ),
            explain=explain,
            mlflow=mlflow,
            executor=chosen,
        )


def _backend_options(
    trust: bool, threads: int | None, concurrency: int, precision: str, device: str
) -> Any:
    from pydantic import ValidationError

    from bakeoff.config import settings_error
    from bakeoff.models.backends import BackendOptions

    try:
        return BackendOptions(
            trust_remote_code=trust,
            threads=threads,
            concurrency=concurrency,
            precision=precision,
            device=device,
        )
    except ValidationError as exc:
        error = settings_error(exc, "options", "docs/models.md", flags=True)
        raise BakeoffError(str(error).replace("--precision", "--inference-precision")) from None


@app.command()
def predict(
    artifact: Annotated[
        Path, typer.Option(help="A run's artifact folder (DIR/runs/KEY/artifact).")
    ],
    input_file: Annotated[
        Path, typer.Option("--input", help="JSONL/CSV rows with the input field(s).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write predictions here (JSONL); default stdout.")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option(help="Allow an artifact whose model is a remote API endpoint.")
    ] = False,
    device: Annotated[
        str, typer.Option(help="Where it runs: auto (a GPU when there is one), cpu, cuda:N.")
    ] = "auto",
) -> None:
    """Reload a saved candidate (prompt, adapter or fine-tuned weights) and predict new rows."""
    import json

    from bakeoff.api import load_candidate

    with user_errors():
        preds = load_candidate(artifact, allow_remote=allow_remote, device=device).predict_file(
            input_file
        )
        lines = [
            json.dumps(
                {"id": p.id, "output": p.output, "probabilities": p.probabilities},
                ensure_ascii=False,
            )
            for p in preds
        ]
        if out is None:
            print("\n".join(lines))
        else:
            out.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"{len(lines)} predictions: {out}")


# `bakeoff drift` and `bakeoff update`: new data against an experiment (cli_maintenance.py)
app.command()(drift)
app.command()(update)
app.command()(serve)  # cli_serve.py


@app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
) -> None:
    """Which runs of an experiment are finished and which are still to run."""
    from bakeoff.cli_experiment import print_status

    with user_errors():
        print_status(folder)


@app.command()
def rebuild(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
) -> None:
    """Rebuild a damaged or lost store from the runs' folders (each holds its record)."""
    from bakeoff.cli_experiment import rebuild_store

    with user_errors():
        rebuild_store(folder)


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder.")],
) -> None:
    """(Re)write report.html / report.md / report.json from the finished runs."""
    from bakeoff.cli_experiment import write_reports

    with user_errors():
        write_reports(folder)


@app.command()
def advise(
    folder: Annotated[
        Path | None, typer.Argument(help="An experiment's output folder (measured advice).")
    ] = None,
    kind: Annotated[str, typer.Option(help="Without data: classification or generation.")] = (
        "classification"
    ),
    labels: Annotated[
        int | None, typer.Option(help="Without data: labelled examples you have.")
    ] = None,
    classes: Annotated[int | None, typer.Option(help="Without data: number of classes.")] = None,
    requests_per_month: Annotated[
        float | None, typer.Option(help="Expected requests per month.")
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Latency target per request.")] = None,
    new_data_every_months: Annotated[
        float | None, typer.Option(help="How often new labelled data arrives.")
    ] = None,
    gpu: Annotated[bool, typer.Option(help="Without data: a GPU is available.")] = False,
) -> None:
    """Recommend a strategy: from an experiment's measurements (FOLDER), or — without data —
    a prior from a short questionnaire (asked interactively for what the options leave out)."""
    from bakeoff.cli_experiment import advise_from_answers, advise_from_runs

    overrides = {
        "requests_per_month": requests_per_month,
        "latency_ms": latency_ms,
        "new_data_every_months": new_data_every_months,
    }
    with user_errors():
        if folder is not None:
            advise_from_runs(folder, {k: v for k, v in overrides.items() if v is not None})
        else:
            answers = {"kind": kind, "labels": labels, "classes": classes, "gpu": gpu, **overrides}
            advise_from_answers(answers)


@app.command()
def strategies() -> None:
    """List the registered strategies: name, kind, grid axes, what each does."""
    from rich.console import Console
    from rich.table import Table

    from bakeoff.api_catalog import strategies as registered
    from bakeoff.strategy_registry import strategy_names

    table = Table(title="Strategies (hybrids: TRAINED+PROMPT, e.g. lora+few-shot)")
    for col in ("name", "kind", "varies over", "settings key", "what"):
        table.add_column(col)
    for info in registered():
        axes = ", ".join(sorted(info.axes))
        table.add_row(info.name, info.kind, axes, info.settings_key or "", info.summary)
    Console().print(table)
    hybrids = [n for n in strategy_names() if "+" in n]
    Console().print(f"hybrids: {', '.join(hybrids)}")


@app.command()
def models() -> None:
    """List the bundled models and how to get the ones not installed."""
    from rich.console import Console
    from rich.table import Table

    from bakeoff.api_catalog import bundled_models as bundled

    table = Table(title="Models (also: any local HF folder, .gguf path or hub id)")
    for col in ("name", "kind", "what / status"):
        table.add_column(col)
    for entry in bundled():
        table.add_row(entry.name, entry.kind, entry.status)
    Console().print(table)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # python -m bakeoff.cli
    main()
