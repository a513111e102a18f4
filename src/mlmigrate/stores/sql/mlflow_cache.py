"""Facts about the installed MLflow, computed once per MLflow version and kept in the user
cache folder (``$XDG_CACHE_HOME/mlmigrate``): its migrations' revisions, the schemas they
build, its models' column types. Computing them means importing mlflow or running its
migrations, which takes seconds; reading them back takes milliseconds.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The folder holding the recorded facts."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "mlmigrate"


def cached(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``, remembered in the user cache folder per installed MLflow version."""
    version = importlib.metadata.version("mlflow")
    path = cache_dir() / f"{name}-mlflow-{version}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(value))
        os.replace(partial, path)
    except OSError as exc:  # a read-only home only costs speed
        logger.debug("cannot cache %s in %s: %s", name, path, exc)
    return value
