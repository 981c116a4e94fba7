"""The wheel: built from this checkout, installed on its own (no editable paths), it carries
what the package needs at run time (report templates, py.typed, the version) and its `bakeoff`
command and `import bakeoff` work. Dependencies come from the test environment (they are what
pyproject.toml lists; installing them afresh would download ~1 GB)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("bakeoff-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bakeoff/py.typed" in names
    assert any(n.startswith("bakeoff/report/templates/") and n.endswith(".j2") for n in names)
    target = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    # the installed copy, not this checkout's src/, must be the one imported
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    code = (
        "import bakeoff, bakeoff.api, bakeoff.report.render as r; "
        "print(bakeoff.__version__, bakeoff.__file__, hasattr(bakeoff, 'run'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[1].startswith(str(target)) and out[2] == "True"
    help_text = subprocess.run(
        [sys.executable, str(target / "bin" / "bakeoff"), "--help"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "run" in help_text and "serve" in help_text
    code = (
        "import bakeoff.report.render as r; "
        "print((r.TEMPLATES / 'report.html.j2').is_file(), r.TEMPLATES)"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found == ["True", str(target / "bakeoff" / "report" / "templates")]
