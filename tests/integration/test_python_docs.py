"""docs/python.md's examples, executed in order from the repository root on the bundled model
(so the page never drifts from the API)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_python_docs_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    page = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 4
    out = REPO / "runs" / "sst2-api"
    shutil.rmtree(out, ignore_errors=True)
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        scope: dict[str, object] = {}
        for block in blocks:
            exec(compile(block, "docs/python.md", "exec"), scope)
    finally:
        os.chdir(cwd)
        shutil.rmtree(out, ignore_errors=True)
    printed = capsys.readouterr().out
    assert "[1/2] zero-shot" in printed and "done" in printed
    assert "zero-shots" in printed  # the bad experiment's error names the unknown strategy
    assert "positive" in printed or "negative" in printed
