"""What `bakeoff serve DIR` serves: an artifact folder as is, or a `bakeoff run` output folder
(experiment or --task): its champion (the recommendation) or a candidate named with
--candidate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError


@dataclass
class Served:
    artifact: Path
    name: str
    info: dict[str, Any] = field(default_factory=dict)  # metrics, cost: shown by GET /info


def _promoted(folder: Path) -> Served | None:
    """The champion promoted by the last `bakeoff update` that promoted one, if any."""
    from bakeoff.experiment.store import RunStore

    promotion = RunStore.open_existing(folder).last_promotion()
    if promotion is None:
        return None
    last, record = promotion
    key = record.key
    info = {
        "candidate": last["decision"]["promoted"],
        "model": record.model,
        "run": key,
        "champion": True,
        "data_version": last["version"],
        "metrics": record.metrics,
    }
    return Served(folder / "runs" / key / "artifact", last["decision"]["promoted"], info)


def _from_experiment(folder: Path, candidate: str | None) -> Served:
    from bakeoff.experiment.store import RunStore
    from bakeoff.report.build import build_report

    promoted = _promoted(folder) if candidate is None else None
    if promoted is not None:
        return promoted

    report_file = folder / "report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text(encoding="utf-8"))
    else:
        report = build_report(RunStore.open_existing(folder))
    name = candidate or report["recommendation"]["choice"]
    chosen = next((c for c in report["candidates"] if name in (c["name"], c["primary"])), None)
    if chosen is None:
        names = ", ".join(c["name"] for c in report["candidates"])
        raise BakeoffError(f"--candidate '{name}': not in {folder}; candidates: {names}.")
    run = next(r for r in report["runs"] if r["key"] == chosen["primary"])
    artifact = folder / "runs" / chosen["primary"] / "artifact"
    info = {
        "candidate": chosen["name"],
        "model": chosen["model"],
        "run": chosen["primary"],
        "champion": name == report["recommendation"]["choice"],
        "metrics": run["metrics"],
        "mean_over_runs": chosen["mean"],
        "cost": chosen["cost"],
    }
    return Served(artifact, chosen["name"], info)


def resolve(folder: Path, candidate: str | None = None) -> Served:
    if (folder / "manifest.json").exists():
        return Served(folder, folder.parent.name or str(folder), {"artifact": str(folder)})
    if (folder / "bakeoff.sqlite").exists():
        served = _from_experiment(folder, candidate)
    else:
        raise BakeoffError(
            f"{folder}: nothing to serve — give a `bakeoff run` --out folder or an artifact "
            "folder (one with manifest.json)."
        )
    if not (served.artifact / "manifest.json").exists():
        raise BakeoffError(
            f"{served.artifact}: the artifact of {served.name} is missing — rerun its run."
        )
    served.info["artifact"] = str(served.artifact)
    return served
