"""bakeoff's cache folder: converted weights, API responses, the precision verdict, crash logs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """BAKEOFF_CACHE, else ~/.cache/bakeoff."""
    root = os.environ.get("BAKEOFF_CACHE") or Path.home() / ".cache" / "bakeoff"
    return Path(root)
