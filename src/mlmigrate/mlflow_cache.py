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


def mlflow_version() -> str | None:
    """The installed MLflow's version: ``mlflow``'s, else ``mlflow-skinny``'s (what mlmigrate
    needs); None when neither is installed."""
    for distribution in ("mlflow", "mlflow-skinny"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _path(name: str) -> Path:
    return cache_dir() / f"{name}-mlflow-{mlflow_version()}.json"


def recorded(name: str) -> dict[str, Any] | None:
    """What was recorded under ``name`` for the installed MLflow version, if anything."""
    try:
        return json.loads(_path(name).read_text())
    except (OSError, ValueError):
        return None


def record(name: str, value: dict[str, Any]) -> None:
    """Keep ``value`` under ``name`` for the installed MLflow version (atomically)."""
    path = _path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(value))
        os.replace(partial, path)
    except OSError as exc:  # a read-only home only costs speed
        logger.debug("cannot cache %s in %s: %s", name, path, exc)


def cached(name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``, remembered in the user cache folder per installed MLflow version."""
    value = recorded(name)
    if value is None:
        value = compute()
        record(name, value)
    return value
