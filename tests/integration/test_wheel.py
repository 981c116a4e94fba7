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

    def installed(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    found = installed("-c", "import bakeoff; print(bakeoff.__file__, hasattr(bakeoff, 'run'))")
    assert found[0].startswith(str(target)) and found[1] == "True"
    assert {"run", "serve", "predict"} <= set(installed(str(target / "bin" / "bakeoff"), "--help"))
    code = "import bakeoff.report.render as r; print((r.TEMPLATES / 'report.html.j2').is_file())"
    assert installed("-c", code) == ["True"]
