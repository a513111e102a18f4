"""The destination's schema: created by MLflow's migrations, upgraded from a known revision,
refused when unknown or not MLflow's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from cli_helpers import invoke, query, show, sqlite_uri
from mlflow.store.db.utils import _get_alembic_config, _initialize_tables, _verify_schema

from mlmigrate.stores.sql.schema import known_revisions

#: an MLflow 2.x-era revision that the current migrations upgrade from
OLD_REVISION = "0584bdc529eb"


def _revision(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_template_schema_equals_the_one_mlflow_migrations_build(tmp_path: Path) -> None:
    by_mlflow = tmp_path / "mlflow.db"
    _initialize_tables(sqlalchemy.create_engine(sqlite_uri(by_mlflow)))
    ours = tmp_path / "ours.db"
    from mlmigrate.stores.sql.store import SqlStore

    SqlStore(sqlite_uri(ours)).prepare()

    def schema(path: Path) -> list[tuple[object, ...]]:
        """Every table, index and constraint; a table's clauses as a sorted list, because
        MLflow's own migrations emit CHECK constraints in no fixed order."""
        with sqlite3.connect(path) as connection:
            rows = connection.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
        return [
            (kind, name, table, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
            for kind, name, table, sql in rows
        ]

    assert schema(ours) == schema(by_mlflow)
    assert _revision(ours) == _revision(by_mlflow) == known_revisions()[0]


def test_known_older_revision_is_upgraded_to_head(minimal_store: Path, tmp_path: Path) -> None:
    from alembic import command

    assert OLD_REVISION in known_revisions()[1]
    database = tmp_path / "old.db"
    engine = sqlalchemy.create_engine(sqlite_uri(database))
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(sqlite_uri(database))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, OLD_REVISION)
    assert _revision(database) == OLD_REVISION

    result = invoke("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 0, show(result)
    assert _revision(database) == known_revisions()[0]
    _verify_schema(sqlalchemy.create_engine(sqlite_uri(database)))  # what `mlflow server` checks


def test_unknown_revision_is_refused_naming_it(minimal_store: Path, tmp_path: Path) -> None:
    database = tmp_path / "future.db"
    invoke("copy", str(minimal_store), sqlite_uri(tmp_path / "seed.db"), "-q")
    (tmp_path / "seed.db").rename(database)
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfacecafe'")

    result = invoke("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 1, show(result)
    assert "f00dfacecafe" in result.stderr, show(result)


def test_a_database_that_is_not_mlflows_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")

    result = invoke("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 1, show(result)
    assert "not an MLflow database" in result.stderr, show(result)
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}


#: everything PostgreSQL says about a schema's shape, in an order independent of creation
_PG_SHAPE = {
    "columns": "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
    "column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
    "constraints": "SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid) "
    "FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid "
    "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = 'public' ORDER BY 1, 2, 4",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "ORDER BY 1, 2",
    "sequences": "SELECT sequencename, data_type, start_value, increment_by, last_value "
    "FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
    "revision": "SELECT version_num FROM alembic_version",
    "workspaces": "SELECT * FROM workspaces",
}


def test_replayed_postgresql_schema_equals_the_migrated_one(
    postgres_server_handle: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first empty database gets MLflow's migrations (recorded), later ones the replay:
    the same columns, constraints, indexes, sequences, revision and seed rows."""
    from mlmigrate.stores import open_store

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the first one migrates
    handle = postgres_server_handle
    urls = [handle.create_database() for _ in range(2)]  # type: ignore[attr-defined]
    try:
        for url in urls:
            store = open_store(url)
            try:
                store.prepare()
                _verify_schema(store.engine)  # what `mlflow server` checks
            finally:
                store.close()
        assert list((tmp_path / "cache" / "mlmigrate").glob("postgresql-schema-*"))
        migrated, replayed = ({name: query(url, sql) for name, sql in _PG_SHAPE.items()} for url in urls)
        assert len({row[0] for row in migrated["columns"]}) >= 65  # 64 tables and alembic_version
        assert replayed == migrated
        assert migrated["revision"] == [(known_revisions()[0],)]
    finally:
        for url in urls:
            handle.drop_database(url)  # type: ignore[attr-defined]


def test_a_recording_that_names_its_database_is_not_kept(
    postgres_server_handle: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's statements hold the word ``runs`` (a table): a recording made in a database of
    that name could not be told apart from one naming it, so it is not kept and the next empty
    database records again."""
    import psycopg

    from mlmigrate.stores import open_store

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    handle = postgres_server_handle
    named = handle.database_url("runs")  # type: ignore[attr-defined]
    with psycopg.connect(handle.url, autocommit=True) as connection:  # type: ignore[attr-defined]
        connection.execute('CREATE DATABASE "runs"')
    other = handle.create_database()  # type: ignore[attr-defined]
    recordings = tmp_path / "cache" / "mlmigrate"
    try:
        for url, kept in ((named, False), (other, True)):
            store = open_store(url)
            try:
                store.prepare()
                assert store.schema_revision() == known_revisions()[0]
                _verify_schema(store.engine)
            finally:
                store.close()
            assert bool(list(recordings.glob("postgresql-schema-*"))) is kept, url
    finally:
        for url in (named, other):
            handle.drop_database(url)  # type: ignore[attr-defined]
