"""The store kinds of the contract suite: one record each, the only list of them in the tests.

A record makes an empty destination of its kind, and tampers with one stored value. What
the comparison through ``MlflowClient`` tolerates follows from the store's
``Capabilities``, plus the few value quirks of one engine that no capability names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri

from mlmigrate.stores import open_store
from mlmigrate.stores.base import Capabilities


def _sql_tamper(uri: str) -> None:
    import sqlalchemy
    from cli_helpers import engine_for

    engine = engine_for(uri)
    try:
        params = sqlalchemy.Table("params", sqlalchemy.MetaData(), autoload_with=engine)
        with engine.begin() as connection:  # SQLAlchemy quotes `key` and `value` per dialect
            first = connection.execute(
                sqlalchemy.select(params.c.run_uuid, params.c.key).order_by(params.c.run_uuid, params.c.key)
            ).first()
            assert first is not None
            connection.execute(
                params.update()
                .where(params.c.run_uuid == first.run_uuid, params.c.key == first.key)
                .values(value="tampered")
            )
    finally:
        engine.dispose()


def _filestore_tamper(uri: str) -> None:
    first = sorted(Path(uri).rglob("params/*"))[0]
    first.write_text("tampered")


def _mongo_tamper(uri: str) -> None:
    import pymongo

    client: Any = pymongo.MongoClient(uri)
    try:
        runs = client.get_default_database()["runs"]
        changed = runs.update_one({"params.0": {"$exists": True}}, {"$set": {"params.0.v": "tampered"}})
        assert changed.modified_count == 1
    finally:
        client.close()


def _backup_tamper(uri: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(uri.removeprefix("backup://")) / "params.parquet"
    source = pq.ParquetFile(path)
    groups = [source.read_row_group(i) for i in range(source.num_row_groups)]
    schema = source.schema_arrow
    source.close()
    first = groups[0]
    values = first.column("value").to_pylist()
    values[0] = "tampered"
    groups[0] = first.set_column(
        first.schema.get_field_index("value"), "value", pa.array(values, pa.string())
    )
    with pq.ParquetWriter(path, schema) as writer:  # the same row groups, one value changed
        for group in groups:
            writer.write_table(group)
    assert pc.sum(pc.equal(pq.read_table(path).column("value"), "tampered")).as_py() == 1


@dataclass(frozen=True)
class StoreKindFixture:
    """How the contract suite makes and handles one kind of store."""

    name: str
    #: an empty destination of this kind (the request gives the session servers)
    make: Callable[[pytest.FixtureRequest, Path], str]
    #: change one stored param value, as someone editing the destination would
    tamper: Callable[[str], None]
    #: ``MlflowClient`` reads it directly; else it is compared after a copy back into SQLite
    read_by_mlflow: bool = True
    #: value quirks of the engine that no capability names (SQLite keeps no -0.0 or NaN)
    quirks: frozenset[str] = field(default_factory=frozenset)

    def tolerances(self, capabilities: Capabilities) -> frozenset[str]:
        """What the MlflowClient comparison tolerates for a store with ``capabilities``."""
        tolerated = set(self.quirks)
        if not capabilities.holds_infinity:
            tolerated.add("inf-as-max-float")
        if capabilities.unique_metric_points:
            tolerated.add("duplicate-metric-points")
        if capabilities.tables is None or "model_versions" in capabilities.tables:
            tolerated.add("model-version-model-id")  # MLflow's SQL schema has no such column
        return frozenset(tolerated)


def _mongo(request: pytest.FixtureRequest, _: Path) -> str:
    return str(request.getfixturevalue("secantus_server").uri())


KINDS: tuple[StoreKindFixture, ...] = (
    StoreKindFixture(
        "sqlite",
        lambda _, tmp: sqlite_uri(tmp / "dst.db"),
        _sql_tamper,
        quirks=frozenset({"negative-zero", "nan-as-null"}),
    ),
    StoreKindFixture(
        "postgresql", lambda request, _: str(request.getfixturevalue("postgres_db")), _sql_tamper
    ),
    StoreKindFixture("mysql", lambda request, _: str(request.getfixturevalue("mysql_db")), _sql_tamper),
    StoreKindFixture("mongodb", _mongo, _mongo_tamper, read_by_mlflow=False),
    StoreKindFixture("filestore", lambda _, tmp: str(tmp / "bundle"), _filestore_tamper),
    StoreKindFixture(
        "backup", lambda _, tmp: f"backup://{tmp / 'backup'}", _backup_tamper, read_by_mlflow=False
    ),
)


def capabilities_of(uri: str) -> Capabilities:
    """The capabilities of the store at ``uri``."""
    store = open_store(uri)
    try:
        return store.capabilities
    finally:
        store.close()


def rows(uri: str, table: str) -> int:
    """Rows of a canonical table in the store at ``uri``, counted through the store contract."""
    store = open_store(uri)
    try:
        if store.is_empty():
            return 0
        return sum(
            batch.num_rows for unit in store.units() for name, batch in store.read_unit(unit) if name == table
        )
    finally:
        store.close()
