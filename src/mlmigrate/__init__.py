"""mlmigrate: move MLflow tracking data and model registry between backends.

Lossless, resumable and verified. The library API mirrors the CLI, one function per
command, each result with ``as_dict()``::

    import mlmigrate
    mlmigrate.plan("./mlruns")
    report = mlmigrate.copy("./mlruns", "sqlite:///mlflow.db")
    mlmigrate.verify("./mlruns", "sqlite:///mlflow.db").ok
    mlmigrate.status().migrations
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "backup",
    "check",
    "copy",
    "open_store",
    "plan",
    "repair",
    "restore",
    "rollback",
    "status",
    "verify",
]

if TYPE_CHECKING:  # pragma: no cover
    from mlmigrate.engine.analysis import plan, verify
    from mlmigrate.engine.backup import backup, restore
    from mlmigrate.engine.copy import copy
    from mlmigrate.engine.readiness import check
    from mlmigrate.engine.repair import repair
    from mlmigrate.engine.rollback import rollback
    from mlmigrate.engine.status import status
    from mlmigrate.stores import open_store

#: each public name and the module it is imported from when first used
_LAZY = {
    "copy": "mlmigrate.engine.copy",
    "plan": "mlmigrate.engine.analysis",
    "verify": "mlmigrate.engine.analysis",
    "backup": "mlmigrate.engine.backup",
    "restore": "mlmigrate.engine.backup",
    "check": "mlmigrate.engine.readiness",
    "repair": "mlmigrate.engine.repair",
    "rollback": "mlmigrate.engine.rollback",
    "status": "mlmigrate.engine.status",
    "open_store": "mlmigrate.stores",
}


def __getattr__(name: str) -> Any:
    """Import the heavy parts only when used, so ``import mlmigrate`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlmigrate' has no attribute {name!r}")
