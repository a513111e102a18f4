"""The destination's schema: created by MLflow's migrations, upgraded from a known revision,
refused when unknown or not MLflow's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy
from cli_helpers import run_cli, show, sqlite_uri
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

    result = run_cli("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 0, show(result)
    assert _revision(database) == known_revisions()[0]
    _verify_schema(sqlalchemy.create_engine(sqlite_uri(database)))  # what `mlflow server` checks


def test_unknown_revision_is_refused_naming_it(minimal_store: Path, tmp_path: Path) -> None:
    database = tmp_path / "future.db"
    run_cli("copy", str(minimal_store), sqlite_uri(tmp_path / "seed.db"), "-q")
    (tmp_path / "seed.db").rename(database)
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfacecafe'")

    result = run_cli("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 1, show(result)
    assert "f00dfacecafe" in result.stderr, show(result)


def test_a_database_that_is_not_mlflows_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")

    result = run_cli("copy", str(minimal_store), sqlite_uri(database), "-q")

    assert result.returncode == 1, show(result)
    assert "not an MLflow database" in result.stderr, show(result)
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}
