"""The destination's MLflow schema: create it with MLflow's own migrations or check it.

Running MLflow's 67 alembic migrations (even listing them) takes seconds. So the
list of revisions and the schema they produce are recorded once per MLflow version
in the user cache folder (:mod:`mlflow_cache`), and each new empty destination gets
that schema replayed: the same tables, indexes and constraints, stamped with the
same revision. SQLite keeps the DDL of ``sqlite_master``; MySQL and PostgreSQL are
recorded per server version (:mod:`mysql_schema`, :mod:`postgres_schema`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy

from mlmigrate.exceptions import SchemaError
from mlmigrate.mlflow_cache import cached
from mlmigrate.mlflow_logs import quiet_mlflow

logger = logging.getLogger(__name__)


def _migrations_dir() -> Path:
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("MLflow is not installed; pip install 'mlflow>=3.17,<3.18'")
    return Path(next(iter(spec.submodule_search_locations))) / "store" / "db_migrations"


def known_revisions() -> tuple[str, list[str]]:
    """(head, all revisions) of the installed MLflow's schema migrations (cached per version)."""
    found = cached("revisions", _read_revisions)
    return str(found["head"]), list(found["revisions"])


def _read_revisions() -> dict[str, Any]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(_migrations_dir()))
    heads = script.get_heads()
    if len(heads) != 1:
        raise SchemaError(f"MLflow's migrations have {len(heads)} heads ({heads}); expected one")
    return {"head": heads[0], "revisions": [revision.revision for revision in script.walk_revisions()]}


def current_revision(engine: sqlalchemy.Engine) -> str | None:
    """The ``alembic_version`` of the database, or None when it has no MLflow tables."""
    inspector = sqlalchemy.inspect(engine)
    if "alembic_version" not in inspector.get_table_names():
        return None
    with engine.connect() as connection:
        return connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()


def sqlite_schema_template() -> dict[str, Any]:
    """MLflow's SQLite schema as DDL statements, made by MLflow's migrations once per version."""
    return cached("sqlite-schema-v2", _migrated_sqlite_schema)


def _migrated_sqlite_schema() -> dict[str, Any]:
    from mlflow.store.db.utils import _initialize_tables

    with tempfile.TemporaryDirectory(prefix="mlmigrate-schema-") as work:
        database = os.path.join(work, "schema.db")
        engine = sqlalchemy.create_engine(f"sqlite:///{database}", poolclass=sqlalchemy.NullPool)
        with quiet_mlflow():
            _initialize_tables(engine)
        engine.dispose()
        with sqlite3.connect(database) as connection:
            statements = [
                sql
                for (sql,) in connection.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'sqlite_sequence' "
                    "ORDER BY rowid"
                )
            ]
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            tables = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                    "AND name != 'alembic_version'"
                )
            ]
            seeds = {  # rows the migrations insert (the default workspace)
                table: rows
                for table in tables
                if (rows := [list(row) for row in connection.execute(f'SELECT * FROM "{table}"')])
            }
    return {"revision": revision, "statements": statements, "seeds": seeds}


def create_sqlite_schema(engine: sqlalchemy.Engine) -> str:
    """Create MLflow's head schema in an empty SQLite database from the recorded DDL."""
    template = sqlite_schema_template()
    connection = engine.raw_connection()
    try:
        raw = connection.driver_connection
        assert raw is not None
        raw.execute("BEGIN")
        for statement in template["statements"]:
            raw.execute(statement)
        raw.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (template["revision"],))
        for table, rows in template["seeds"].items():
            marks = ", ".join("?" for _ in rows[0])
            raw.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
        raw.execute("COMMIT")
    finally:
        connection.close()
    return str(template["revision"])


def _interrupted_initialisation(engine: sqlalchemy.Engine, tables: list[str]) -> bool:
    """Whether the tables are what MLflow's schema creation leaves when stopped half-way.

    MLflow first creates its 2018 base tables and commits, then runs the
    migrations (in one transaction on PostgreSQL). Killed in between, the
    database holds only empty base tables and no revision: finishing the
    creation is safe. Anything else is not ours to touch.
    """
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    if not set(tables) <= set(InitialBase.metadata.tables):
        return False
    with engine.connect() as connection:
        for table in tables:
            quoted = connection.dialect.identifier_preparer.quote(table)
            if connection.execute(sqlalchemy.text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():
                return False
    logger.info("completing an interrupted MLflow schema creation")
    return True


def prepare_schema(
    engine: sqlalchemy.Engine, *, display_uri: str, create_schema: Callable[[sqlalchemy.Engine], str]
) -> str:
    """:func:`_prepare_schema`, without MLflow's and alembic's INFO lines on the user's screen."""
    with quiet_mlflow():
        return _prepare_schema(engine, display_uri=display_uri, create_schema=create_schema)


def _prepare_schema(
    engine: sqlalchemy.Engine, *, display_uri: str, create_schema: Callable[[sqlalchemy.Engine], str]
) -> str:
    """Make sure the database is at MLflow's schema head; return the revision.

    An empty database gets ``create_schema`` (its dialect's: MLflow's migrations, or what they
    were recorded to do); one that MLflow's schema creation left half-made is completed; a known older
    revision is upgraded the same way ``mlflow db upgrade`` would; an unknown
    revision (a newer MLflow, or not an MLflow database) is refused.
    """
    head, revisions = known_revisions()
    tables = [t for t in sqlalchemy.inspect(engine).get_table_names() if not t.startswith("alembic_")]
    revision = current_revision(engine)
    if revision is None:
        if tables and not _interrupted_initialisation(engine, tables):
            raise SchemaError(
                f"{display_uri} holds tables ({', '.join(sorted(tables)[:5])} …) but no MLflow "
                "schema revision (alembic_version): it is not an MLflow database"
            )
        logger.info("initialising MLflow schema %s in %s", head, display_uri)
        if not tables:
            created = create_schema(engine)
            if created == head:
                return created
            raise SchemaError(f"the recorded MLflow schema is at {created!r}, MLflow's head is {head!r}")
        from mlflow.store.db.utils import _initialize_tables

        _initialize_tables(engine)
        return head
    if revision == head:
        return revision
    if revision not in revisions:
        raise SchemaError(
            f"{display_uri} is at MLflow schema revision {revision!r}, which this MLflow "
            f"(head {head!r}) does not know; use the MLflow version that wrote it"
        )
    logger.info("upgrading MLflow schema of %s from %s to %s", display_uri, revision, head)
    from mlflow.store.db.utils import _upgrade_db

    _upgrade_db(engine)
    return head
