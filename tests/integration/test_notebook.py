"""examples/notebook.ipynb, executed top to bottom by a real Jupyter kernel (nbclient), so the
notebook never rots: its outputs include the recommendation as HTML and a matplotlib figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_example_notebook_runs() -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "examples" / "notebook.ipynb", as_version=4)
    out = REPO / "examples" / "runs" / "sst2-notebook"
    shutil.rmtree(out, ignore_errors=True)
    try:
        client = NotebookClient(
            notebook,
            timeout=900,
            kernel_name="python3",
            resources={"metadata": {"path": str(REPO / "examples")}},
        )
        client.execute()
    finally:
        shutil.rmtree(REPO / "examples" / "runs", ignore_errors=True)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o.get("data", {}) for o in outputs]
    assert any("Recommendation:" in d.get("text/html", "") for d in shown)
    assert any("image/png" in d for d in shown)  # the figure rendered inline
    assert any("positive" in d.get("text/plain", "") for d in shown)
