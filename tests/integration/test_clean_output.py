"""What a user sees on the console during a bake-off is bakeoff's own output only: no warnings
from transformers / PEFT / accelerate / torch and no third-party tqdm bars (bakeoff draws its
own progress with rich).

One small `bakeoff run --task` on the bundled models: zero-shot, few-shot with knn demos (the
MiniLM encoder) and LoRA (2 steps) on 20 test rows, with the usual model cache; and the
first-load path alone (the bundled GGUF dequantised and saved as safetensors) in a fresh
BAKEOFF_CACHE. Only console output is checked, not the files a run writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

NOISE = [
    re.compile(r"\w*Warning\b"),  # Warning, FutureWarning, UserWarning, DeprecationWarning, …
    re.compile(r"it/s\]|s/it\]"),  # a tqdm rate
    re.compile(r"\d+%\|"),  # a tqdm bar
    re.compile(r"huggingface/tokenizers: The current process just got forked"),
    re.compile(r"Setting `pad_token_id`|Setting pad_token"),
]


def console_noise(console: str) -> list[str]:
    return [
        line
        for line in console.replace("\r", "\n").splitlines()
        if any(pattern.search(line) for pattern in NOISE)
    ]


def run_python(args: list[str], cwd: Path, **env: str) -> str:
    """Run `python ARGS` as a user would (default warning filters); its stdout + stderr."""
    environ = {**os.environ, "COLUMNS": "200", **env}
    environ.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, env=environ, cwd=cwd
    )
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-4000:]
    return console


def test_a_run_prints_no_third_party_warnings_or_bars(tmp_path: Path) -> None:
    console = run_python(
        [
            "-m",
            "bakeoff.cli",
            "run",
            "--task",
            str(REPO / "examples/sst2/task.yaml"),
            "--strategy",
            "zero-shot",
            "--strategy",
            "few-shot",
            "--demos",
            "knn",
            "--shots",
            "2",
            "--strategy",
            "lora",
            "--train-size",
            "32",
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--eval-every",
            "2",
            "--eval-rows",
            "8",
            "--wordings",
            "0",
            "--limit-test",
            "20",
            "--out",
            str(tmp_path / "out"),
        ],
        tmp_path,
    )
    assert "accuracy" in console  # the run's own report did print
    noise = console_noise(console)
    assert not noise, "third-party noise on the console:\n" + "\n".join(noise[:20])


def test_first_load_of_the_bundled_gguf_is_quiet(tmp_path: Path) -> None:
    """The one-time GGUF -> safetensors conversion (transformers' dequantising loop, its weight
    loading and shard writing) draws no tqdm bars."""
    script = (
        "from bakeoff.models.hf import HFCausalLM\n"
        "lm = HFCausalLM.load('smollm2-135m-instruct')\n"
        "print('parameters', lm.n_parameters)\n"
    )
    console = run_python(["-c", script], tmp_path, BAKEOFF_CACHE=str(tmp_path / "cache"))
    assert any((tmp_path / "cache" / "models").iterdir())  # it did convert, in the fresh cache
    noise = console_noise(console)
    assert not noise, "third-party noise on the console:\n" + "\n".join(noise[:20])
