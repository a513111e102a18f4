"""mlmigrate: move MLflow tracking data and model registry between backends.

Lossless, resumable and verified. The library API mirrors the CLI::

    import mlmigrate
    mlmigrate.plan("./mlruns")
    report = mlmigrate.copy("./mlruns", "sqlite:///mlflow.db")
    mlmigrate.verify("./mlruns", "sqlite:///mlflow.db").ok
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "copy", "open_store", "plan", "verify"]

if TYPE_CHECKING:  # pragma: no cover
    from mlmigrate.engine.analysis import plan, verify
    from mlmigrate.engine.copy import copy
    from mlmigrate.stores import open_store


def __getattr__(name: str) -> Any:
    """Import the heavy parts only when used, so ``import mlmigrate`` stays light."""
    if name == "copy":
        from mlmigrate.engine.copy import copy

        return copy
    if name in ("plan", "verify"):
        from mlmigrate.engine import analysis

        return getattr(analysis, name)
    if name == "open_store":
        from mlmigrate.stores import open_store

        return open_store
    raise AttributeError(f"module 'mlmigrate' has no attribute {name!r}")
