"""The store kinds of the contract suite: one record each, the only list of them in the tests.

A record makes an empty destination of its kind, counts a table as the kind itself stores
it (SQL rows, documents, files, Parquet rows: not through mlmigrate's reader), and tampers
with one stored value. What the comparison through ``MlflowClient`` tolerates follows from
the store's ``Capabilities`` (:func:`tolerances`), plus the few value quirks of one engine
that no capability names. A bug known to break a contract test on a kind is named in
``known_bugs``; the test is then a strict xfail, so it turns red once the bug is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from cli_helpers import sqlite_uri

from mlmigrate.stores import open_store
from mlmigrate.stores.base import Capabilities
from mlmigrate.stores.kinds import kind_of

#: the tables every kind counts natively
COUNTED = ("experiments", "runs", "params", "metrics", "registered_models", "model_versions")


def _sql_count(uri: str, table: str) -> int:
    from cli_helpers import count

    if uri.startswith("sqlite:") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return 0  # not made yet (and opening it would make it)
    return int(count(uri, table)) if _sql_has(uri, table) else 0


def _sql_has(uri: str, table: str) -> bool:
    import sqlalchemy
    from cli_helpers import engine_for

    engine = engine_for(uri)
    try:
        return bool(sqlalchemy.inspect(engine).has_table(table))
    finally:
        engine.dispose()


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


def _filestore_experiments(root: Path) -> list[Path]:
    folders = [*root.glob("*/meta.yaml"), *root.glob(".trash/*/meta.yaml")]
    return [meta.parent for meta in folders if meta.parent.name.isdigit()]


def _filestore_runs(root: Path) -> list[Path]:
    return [
        meta.parent
        for experiment in _filestore_experiments(root)
        for meta in experiment.glob("*/meta.yaml")
        if len(meta.parent.name) == 32
    ]


def _filestore_count(uri: str, table: str) -> int:
    root = Path(uri)
    if not root.is_dir():
        return 0
    if table == "experiments":
        return len(_filestore_experiments(root))
    if table == "runs":
        return len(_filestore_runs(root))
    if table in ("params", "metrics"):
        files = [f for run in _filestore_runs(root) for f in (run / table).rglob("*") if f.is_file()]
        if table == "params":
            return len(files)
        return sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files)
    models = [meta.parent for meta in root.glob("models/*/meta.yaml")]
    if table == "registered_models":
        return len(models)
    if table == "model_versions":
        return sum(1 for model in models for _ in model.glob("version-*/meta.yaml"))
    raise ValueError(f"a FileStore counts {', '.join(COUNTED)}, not {table!r}")


def _filestore_tamper(uri: str) -> None:
    first = sorted(Path(uri).rglob("params/*"))[0]
    first.write_text("tampered")


def _mongo_database(uri: str) -> Any:
    import pymongo

    client: Any = pymongo.MongoClient(uri)
    return client, client.get_default_database()


def _mongo_count(uri: str, table: str) -> int:
    client, database = _mongo_database(uri)
    try:
        if table == "params":
            sizes = database["runs"].aggregate([{"$project": {"n": {"$size": {"$ifNull": ["$params", []]}}}}])
            return sum(int(document["n"]) for document in sizes)
        collection = {"metrics": "run_metrics"}.get(table, table)
        if collection not in ("experiments", "runs", "run_metrics", "registered_models", "model_versions"):
            raise ValueError(f"a MongoDB database counts {', '.join(COUNTED)}, not {table!r}")
        return int(database[collection].count_documents({}))
    finally:
        client.close()


def _mongo_tamper(uri: str) -> None:
    client, database = _mongo_database(uri)
    try:
        changed = database["runs"].update_one(
            {"params.0": {"$exists": True}}, {"$set": {"params.0.v": "tampered"}}
        )
        assert changed.modified_count == 1
    finally:
        client.close()


def _backup_count(uri: str, table: str) -> int:
    import pyarrow.parquet as pq

    path = Path(uri.removeprefix("backup://")) / f"{table}.parquet"
    return pq.read_metadata(path).num_rows if path.is_file() else 0


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
    """How the contract suite makes and handles one kind of store (named as in the registry)."""

    name: str
    #: an empty destination of this kind (the request gives the session servers)
    make: Callable[[pytest.FixtureRequest, Path], str]
    #: rows of a canonical table (:data:`COUNTED`) as the store itself holds them
    count: Callable[[str, str], int]
    #: change one stored param value, as someone editing the destination would
    tamper: Callable[[str], None]
    #: ``MlflowClient`` reads it directly; else it is compared after a copy back into SQLite
    read_by_mlflow: bool = True
    #: value quirks of the engine that no capability names (SQLite keeps no -0.0 or NaN)
    quirks: frozenset[str] = field(default_factory=frozenset)
    #: contract test purpose -> the known bug that breaks it on this kind (a strict xfail)
    known_bugs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def tolerances(self, capabilities: Capabilities) -> frozenset[str]:
        """What the MlflowClient comparison tolerates for a store with ``capabilities``."""
        tolerated = set(self.quirks)
        if not capabilities.holds_infinity:  # ±inf as ±max float, NaN outside is_nan as NULL
            tolerated |= {"inf-as-max-float", "nan-as-null"}
        if capabilities.unique_metric_points:
            tolerated.add("duplicate-metric-points")
        if capabilities.tables is None or "model_versions" in capabilities.tables:
            tolerated.add("model-version-model-id")  # MLflow's SQL schema has no such column
        if capabilities.tables is not None and "logged_models" not in capabilities.tables:
            tolerated.add("logged-models-not-held")  # reported as rows not held
        if capabilities.tables is not None and "trace_info" not in capabilities.tables:
            tolerated.add("traces-not-held")
        return frozenset(tolerated)

    def counts(self, uri: str, tables: tuple[str, ...] = COUNTED) -> dict[str, int]:
        """Rows of each of ``tables`` in the store at ``uri``."""
        return {table: self.count(uri, table) for table in tables}


def _mongo(request: pytest.FixtureRequest, _: Path) -> str:
    return str(request.getfixturevalue("secantus_server").uri())


def _rest(request: pytest.FixtureRequest, _: Path) -> str:
    return str(request.getfixturevalue("mlflow_rest_server").reset())


def _rest_count(uri: str, table: str) -> int:
    from servers_rest import SERVERS

    from mlmigrate.stores.rest import keys

    if table not in COUNTED:
        raise ValueError(f"an MLflow server counts {', '.join(COUNTED)}, not {table!r}")
    with SERVERS[uri].connect() as connection:
        if table == "experiments":  # not the server's own empty Default, unless a copy wrote into it
            untouched = (
                "experiment_id = 0 AND experiment_id NOT IN (SELECT experiment_id FROM experiment_tags)"
            )
            return int(
                connection.execute(f"SELECT count(*) FROM experiments WHERE NOT ({untouched})").fetchone()[0]
            )
        if table != "model_versions":
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        held = connection.execute(
            "SELECT count(*) FROM model_versions WHERE current_stage <> 'Deleted_Internal'"
        )
        # a deleted version is counted when the source had it: the numbers between were made and
        # deleted again to keep the numbering, and are not the source's
        noted = connection.execute(f"SELECT value FROM registered_model_tags WHERE key = '{keys.ROW}'")
        deleted = sum(len(json.loads(value).get("deleted_versions", [])) for (value,) in noted)
        return int(held.fetchone()[0]) + deleted


def _rest_tamper(uri: str) -> None:
    from servers_rest import SERVERS

    with SERVERS[uri].connect() as connection:
        first = connection.execute("SELECT run_uuid, key FROM params ORDER BY run_uuid, key").fetchone()
        connection.execute("UPDATE params SET value = 'tampered' WHERE run_uuid = ? AND key = ?", first)


_SQLITE_QUIRKS = frozenset({"negative-zero", "nan-as-null"})

KINDS: tuple[StoreKindFixture, ...] = (
    StoreKindFixture(
        "sqlite", lambda _, tmp: sqlite_uri(tmp / "dst.db"), _sql_count, _sql_tamper, quirks=_SQLITE_QUIRKS
    ),
    StoreKindFixture(
        "postgresql",
        lambda request, _: str(request.getfixturevalue("postgres_db")),
        _sql_count,
        _sql_tamper,
    ),
    StoreKindFixture(
        "mysql",
        lambda request, _: str(request.getfixturevalue("mysql_db")),
        _sql_count,
        _sql_tamper,
        quirks=frozenset({"negative-zero"}),  # MariaDB's DOUBLE stores -0.0 as 0.0
    ),
    StoreKindFixture("mongodb", _mongo, _mongo_count, _mongo_tamper, read_by_mlflow=False),
    StoreKindFixture("filestore", lambda _, tmp: str(tmp / "bundle"), _filestore_count, _filestore_tamper),
    StoreKindFixture(
        "backup",
        lambda _, tmp: f"backup://{tmp / 'backup'}",
        _backup_count,
        _backup_tamper,
        read_by_mlflow=False,
    ),
    # the server assigns run ids and some times (docs/rest.md): MlflowClient sees those, so the
    # comparison is made after a copy back, where mlmigrate's tags restore them
    StoreKindFixture(
        "rest",
        _rest,
        _rest_count,
        _rest_tamper,
        read_by_mlflow=False,
    ),
)

_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_for(uri: str) -> StoreKindFixture:
    """The record of the store kind ``uri`` names."""
    return _BY_NAME[kind_of(uri).name]


def capabilities_of(uri: str) -> Capabilities:
    """The capabilities of the store at ``uri``."""
    store = open_store(uri)
    try:
        return store.capabilities
    finally:
        store.close()


def tolerances(*uris: str) -> frozenset[str]:
    """What an ``MlflowClient`` comparison with its source tolerates of data that passed through
    the stores at ``uris`` (every store after the source, in any order): what each one's
    capabilities and quirks allow."""
    return frozenset().union(*(kind_for(uri).tolerances(capabilities_of(uri)) for uri in uris))
