"""Store drivers, looked up by URI scheme and imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import mask, scheme_of

#: store family -> ("module:Class", pip extra that installs its driver)
REGISTRY: dict[str, tuple[str, str | None]] = {
    "filestore": ("mlmigrate.stores.filestore.store:FileStore", None),
    "sqlite": ("mlmigrate.stores.sql.store:SqlStore", None),
    "postgresql": ("mlmigrate.stores.sql.store:SqlStore", "postgres"),
    "mysql": ("mlmigrate.stores.sql.store:SqlStore", "mysql"),
    "mongodb": ("mlmigrate.stores.mongodb.store:MongoStore", "mongodb"),
    "backup": ("mlmigrate.stores.backup.store:BackupStore", None),
}

#: store family -> (how its URIs look, what mlmigrate does with it), for ``mlmigrate stores``
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "filestore": ("./mlruns, a folder holding mlruns/, file:///abs/mlruns", "source and destination"),
    "sqlite": ("sqlite:///relative.db, sqlite:////absolute.db", "source and destination"),
    "postgresql": ("postgresql://user:password@host:5432/database", "source and destination"),
    "mysql": ("mysql://user:password@host:3306/database (MariaDB too)", "source and destination"),
    "mongodb": (
        "mongodb://user:password@host:27017/database, mongodb+srv://…/database (Cosmos DB too)",
        "source and destination (mlflow-mongodb plugin layout)",
    ),
    "backup": (
        "backup://relative/dir, backup:///abs/dir, a folder holding manifest.json",
        "source and destination (mlmigrate backup / restore)",
    ),
}


def open_store(uri: str) -> Any:
    """Open the store named by ``uri`` (a folder path, ``file://``, ``sqlite:///``, ``postgresql://``)."""
    family = scheme_of(uri)
    if family not in REGISTRY:
        supported = ", ".join(sorted(REGISTRY))
        raise UsageError(f"{mask(uri)}: {family} stores are not supported yet (supported: {supported})")
    target, extra = REGISTRY[family]
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        hint = f"pip install 'mlmigrate[{extra}]'" if extra else "reinstall mlmigrate"
        raise UsageError(f"the driver for {family} stores is missing ({exc.name}); {hint}") from exc
    return getattr(module, class_name)(uri)
