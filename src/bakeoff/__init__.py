"""bakeoff: prompt engineering or fine-tuning, measured.

The Python API (docs/python.md) is imported on first use, so `import bakeoff` stays light:

    import bakeoff
    results = bakeoff.run("examples/sst2/experiment.yaml", "runs/sst2")
    results.recommendation
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bakeoff.version import __version__

if TYPE_CHECKING:
    from bakeoff.api import (
        Predictor,
        Recommendation,
        Report,
        Results,
        RunProgress,
        RunState,
        Status,
        drift,
        load_candidate,
        load_experiment,
        load_task,
        new_experiment,
        open_results,
        run,
        run_update,
    )
    from bakeoff.api_catalog import (
        ModelEntry,
        Rebuilt,
        bundled_models,
        load_data,
        prior_advice,
        rebuild,
        schedules,
        strategies,
    )
    from bakeoff.api_serve import serve_app
    from bakeoff.errors import BakeoffError, Problem, ProblemsError

__all__ = [
    "BakeoffError",
    "ModelEntry",
    "Predictor",
    "Problem",
    "ProblemsError",
    "Rebuilt",
    "Recommendation",
    "Report",
    "Results",
    "RunProgress",
    "RunState",
    "Status",
    "__version__",
    "bundled_models",
    "drift",
    "load_candidate",
    "load_data",
    "load_experiment",
    "load_task",
    "new_experiment",
    "open_results",
    "prior_advice",
    "rebuild",
    "run",
    "run_update",
    "schedules",
    "serve_app",
    "strategies",
]
_ERRORS = {"BakeoffError", "Problem", "ProblemsError"}
_CATALOG = {
    "ModelEntry",
    "Rebuilt",
    "bundled_models",
    "load_data",
    "prior_advice",
    "rebuild",
    "schedules",
    "strategies",
}


def __getattr__(name: str) -> Any:
    if name == "serve_app":
        from bakeoff.api_serve import serve_app

        return serve_app
    if name in _CATALOG:
        from bakeoff import api_catalog

        return getattr(api_catalog, name)
    if name in __all__ and name not in _ERRORS:
        from bakeoff import api

        return getattr(api, name)
    if name in _ERRORS:
        from bakeoff import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'bakeoff' has no attribute {name!r}")
