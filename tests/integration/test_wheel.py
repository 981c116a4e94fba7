"""The wheel, as a user gets it: built from this checkout and `pip install`ed with its
dependencies into a fresh venv (torch installed first, as the README says). It carries what the
package needs at run time (report templates, py.typed, the version); `bakeoff` and `import
bakeoff` work; a run on a local model completes; a feature whose extra is not installed says
which extra to install. About 1.5 minutes here: torch comes from the machine's wheel folder,
the rest from the package index (or pip's cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.unit.test_cli_run import make_task

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path, tiny_model_dir: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("bakeoff-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bakeoff/py.typed" in names
    assert any(n.startswith("bakeoff/report/templates/") and n.endswith(".j2") for n in names)

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(fresh)
    python, bakeoff = str(fresh / "bin" / "python"), str(fresh / "bin" / "bakeoff")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, str(wheel)], check=True)
    # nothing from this checkout or the test venv may leak in
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"

    def installed(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done

    found = installed(python, "-c", "import bakeoff; print(bakeoff.__file__, bakeoff.__version__)")
    path, version = found.stdout.split()
    assert path.startswith(str(fresh)) and version == wheel.name.split("-")[1]
    assert {"run", "serve", "predict"} <= set(installed(bakeoff, "--help").stdout.split())
    code = "import bakeoff.report.render as r; print((r.TEMPLATES / 'report.html.j2').is_file())"
    assert installed(python, "-c", code).stdout.split() == ["True"]

    task = make_task(tmp_path)
    out = tmp_path / "out"
    run = [bakeoff, "run", "--task", str(task), "--strategy", "zero-shot", "--quiet"]
    installed(*run, "--model", str(tiny_model_dir), "--out", str(out))
    assert (out / "report.html").is_file() and (out / "results.json").is_file()

    # the extras are not installed here: asking for their features names the extra
    for extra, option in [
        ("llamacpp", ["--model", "llama.cpp:x.gguf"]),
        ("ray", ["--executor", "ray"]),
    ]:
        model = [] if option[0] == "--model" else ["--model", str(tiny_model_dir)]
        missing = installed(*run, *model, *option, "--out", str(tmp_path / extra), ok=False)
        said = missing.stdout + missing.stderr
        assert f"pip install 'bakeoff[{extra}]'" in said and "Traceback" not in said
