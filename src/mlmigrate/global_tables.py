"""The tables outside experiment and model units, moved between databases as one ``global`` unit.

MLflow's schema has 64 tables; the canonical model (:mod:`mlmigrate.tables`) fixes the
23 that every store knows. The others (spans and trace metrics, evaluation datasets,
scorers, webhooks, jobs, workspaces, endpoints, MCP servers, review queues, rollups …)
exist only in MLflow's SQL schema. They are read and written generically: their
columns and Arrow types come from MLflow's own SQLAlchemy models at the installed
version, and their order (parents before children) from those models' foreign keys.
Importing those models means importing mlflow (about a second), so what they say is
recorded once per MLflow version in the user cache folder.

The global unit is written after every experiment and model unit (several of its
tables point at experiments and cascade on their deletion) and is rewritten
whenever one of those units is.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

import pyarrow as pa

from mlmigrate.tables import GLOBAL, TABLES, TableSpec

#: the one global unit's source id
GLOBAL_UNIT_ID = "tables"

#: rows MLflow's migrations insert into a table, for sources older than that migration
MIGRATION_SEEDS: dict[str, list[dict[str, Any]]] = {
    "workspaces": [{"name": "default", "description": "Default workspace for legacy resources"}],
}


@functools.cache
def _metadata() -> Any:
    """MLflow's SQLAlchemy metadata with every model module imported."""
    import mlflow.store.tracking.dbmodels as tracking

    for module in pkgutil.iter_modules(tracking.__path__):
        importlib.import_module(f"{tracking.__name__}.{module.name}")
    for name in ("mlflow.store.model_registry.dbmodels.models", "mlflow.store.workspace.dbmodels.models"):
        importlib.import_module(name)
    from mlflow.store.db.base_sql_model import Base

    return Base.metadata


#: Arrow types by the name :func:`_arrow_type_name` gives them
_ARROW_TYPES = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "binary": pa.binary()}


def _arrow_type_name(column: Any) -> str:
    import sqlalchemy.types as types

    kind = column.type
    kind = getattr(kind, "impl_instance", None) or kind  # TypeDecorator (EncryptedString, …)
    if isinstance(kind, types.Boolean):
        return "bool"
    if isinstance(kind, types.Integer):
        return "int64"
    if isinstance(kind, types.Float | types.Numeric):
        return "float64"
    if isinstance(kind, types.LargeBinary):
        return "binary"
    return "string"  # strings, text, JSON (kept as its text), dates (ISO text)


def _describe_tables() -> dict[str, Any]:
    """Each global table, parents first, with its columns' Arrow type names; generated
    columns are left out (each database computes those itself)."""
    return {
        "tables": [
            [table.name, [[c.name, _arrow_type_name(c)] for c in table.columns if c.computed is None]]
            for table in _metadata().sorted_tables
            if table.name not in TABLES
        ]
    }


@functools.cache
def _described() -> dict[str, list[list[str]]]:
    from mlmigrate.mlflow_cache import cached

    return dict(cached("global-tables", _describe_tables)["tables"])


def global_tables() -> tuple[str, ...]:
    """Every MLflow table outside the canonical model, parents before children."""
    return tuple(_described())


@functools.cache
def schema_of(table: str) -> pa.Schema:
    """The Arrow schema of a global table at MLflow's head."""
    return pa.schema(
        [pa.field(name, _ARROW_TYPES.get(kind, pa.string())) for name, kind in _described()[table]]
    )


def spec_of(table: str) -> TableSpec:
    """A global table as a table spec (no natural key: the global unit is replaced whole)."""
    return TableSpec(table, schema_of(table), (), GLOBAL)


def seed_batch(table: str) -> pa.RecordBatch | None:
    """The rows MLflow's migrations put in ``table``, for a source whose revision lacks it."""
    rows = MIGRATION_SEEDS.get(table)
    if not rows:
        return None
    return pa.RecordBatch.from_pylist(rows, schema=schema_of(table))
