"""MLflow's schema on PostgreSQL, made once by MLflow's migrations and then replayed.

Importing MLflow and running its migrations takes two to three seconds. The first
empty destination of a given server version runs them while every statement they
send is recorded; the statements that change the database (DDL, and the seed
rows) are kept in the user cache folder with the revision they reach. Each later
empty destination gets those statements replayed in one transaction: the same
tables, sequences, keys, indexes and constraints, stamped with the same revision,
and nothing at all if the replay is interrupted.

Queries (``SELECT``) are left out of the record: on an empty database of the same
server version they answer what they answered when recorded, so the statements
that depended on them are the same. A record that names the database it was
made in, or carries parameters JSON cannot keep, is not replayable; then every
destination runs the migrations.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy

from mlmigrate.stores.sql.mlflow_cache import cached


def _changes_the_database(statement: str) -> bool:
    return not statement.lstrip().upper().startswith(("SELECT", "SHOW"))


def _migrate_recording(engine: sqlalchemy.Engine, database: str) -> dict[str, Any]:
    """Run MLflow's migrations on ``engine``; return what they sent that changed the database."""
    from mlflow.store.db.utils import _initialize_tables

    recorded: list[list[Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if _changes_the_database(statement):
            recorded.append([statement, parameters, many])

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        _initialize_tables(engine)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as connection:
        revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    try:
        json.dumps(recorded)
    except (TypeError, ValueError):
        return {"revision": revision, "replayable": False}
    replayable = not any(database in statement for statement, _, _ in recorded)
    return {"revision": revision, "replayable": replayable, "statements": recorded}


def create_postgres_schema(engine: sqlalchemy.Engine) -> str:
    """Create MLflow's head schema in an empty PostgreSQL database; return the revision."""
    with engine.connect() as connection:
        server = str(connection.execute(sqlalchemy.text("SHOW server_version_num")).scalar())
        database = str(connection.execute(sqlalchemy.text("SELECT current_database()")).scalar())
    migrated = False

    def migrate() -> dict[str, Any]:
        nonlocal migrated
        migrated = True
        return _migrate_recording(engine, database)

    template = cached(f"postgresql-schema-{server}", migrate)
    if migrated:
        return str(template["revision"])
    if not template.get("replayable"):
        _migrate_recording(engine, database)
        return str(template["revision"])
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters, many in template["statements"]:
            if many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters or None)
        raw.commit()
    finally:
        raw.close()
    return str(template["revision"])
