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
made in, or carries parameters JSON cannot keep, is not kept; the next empty
destination records again.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy

from mlmigrate.mlflow_cache import record, recorded


def _changes_the_database(statement: str) -> bool:
    return not statement.lstrip().upper().startswith(("SELECT", "SHOW"))


def _migrate_recording(engine: sqlalchemy.Engine, database: str) -> dict[str, Any]:
    """Run MLflow's migrations on ``engine``; return what they sent that changed the database."""
    from mlflow.store.db.utils import _initialize_tables

    sent: list[list[Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if _changes_the_database(statement):
            sent.append([statement, parameters, many])

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    try:
        _initialize_tables(engine)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as connection:
        revision = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    try:
        json.dumps(sent)
    except (TypeError, ValueError):
        return {"revision": revision, "replayable": False}
    named = re.compile(rf"\b{re.escape(database)}\b")
    replayable = not any(named.search(statement) for statement, _, _ in sent)
    return {"revision": revision, "replayable": replayable, "statements": sent}


def create_postgres_schema(engine: sqlalchemy.Engine) -> str:
    """Create MLflow's head schema in an empty PostgreSQL database; return the revision."""
    with engine.connect() as connection:
        server = str(connection.execute(sqlalchemy.text("SHOW server_version_num")).scalar())
        database = str(connection.execute(sqlalchemy.text("SELECT current_database()")).scalar())
    name = f"postgresql-schema-{server}"
    template = recorded(name)
    if template is None:
        made = _migrate_recording(engine, database)
        if made["replayable"]:
            record(name, made)
        return str(made["revision"])
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
