"""Artifacts: the folder a run leaves so its candidate can be rebuilt, and who rebuilds it.

manifest.json   format version, bakeoff version, `loader` (the registered strategy whose loader
                rebuilds it), the task spec, the model, the prompt and the training summary
demos.jsonl     the fixed demos, or the pool nearest-neighbour demos are drawn from
adapter/        PEFT adapter (LoRA, prompt tuning), safetensors
model/          fully fine-tuned weights (or an encoder + head), safetensors

Each candidate kind writes its own files; this module owns only the manifest format and the
loader registry, so nothing below the strategies has to know what a candidate is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError
from bakeoff.version import __version__

MANIFEST = "manifest.json"
FORMAT = 2  # 2: `loader` names a registered strategy
Loader = Callable[..., Any]  # (folder, manifest, task, device) -> candidate

_LOADERS: dict[str, Loader] = {}


def register_loader(name: str, loader: Loader) -> None:
    _LOADERS[name] = loader


def unregister_loader(name: str) -> None:
    _LOADERS.pop(name, None)


def write_manifest(folder: Path, loader: str, manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "bakeoff": __version__, "loader": loader, **manifest}
    text = json.dumps(full, indent=1, ensure_ascii=False)
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BakeoffError(
            f"{folder}: no {MANIFEST} — point --artifact at a run's artifact folder "
            "(DIR/runs/<key>/artifact)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BakeoffError(f"{path}: not a bakeoff manifest ({exc}) — rerun the run.") from None
    if not isinstance(manifest, dict) or "task" not in manifest:
        raise BakeoffError(f"{path}: not a bakeoff manifest (no task) — rerun the run.")
    return manifest


PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}


def refuse_pickles(folder: Path) -> None:
    """Weights load from safetensors only: a pickle can run code when it is loaded."""
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise BakeoffError(
            f"{found[0]}: a pickle-format file in the artifact — bakeoff loads weights from "
            "safetensors only (pickles can run code); convert it to .safetensors or remove it."
        )


def loader_for(folder: Path, manifest: dict[str, Any]) -> Loader:
    """The registered loader the manifest names (format 1 manifests named it by kind/method)."""
    name = manifest.get("loader") or manifest.get("method") or manifest.get("kind", "")
    if name == "prompt":  # format 1: a prompt artifact
        name = "few-shot"
    loader = _LOADERS.get(name)
    if loader is None:
        known = ", ".join(sorted(_LOADERS)) or "none"
        raise BakeoffError(
            f"{folder / MANIFEST}: made by strategy '{name}', which is not registered here "
            f"(registered: {known}) — import the module that registers it, or upgrade bakeoff."
        )
    return loader
