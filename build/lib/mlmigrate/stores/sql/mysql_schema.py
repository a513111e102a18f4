"""MLflow's schema on MySQL / MariaDB, made once by MLflow's migrations and then replayed.

The migrations take about 8 s on MariaDB. The first empty destination of a given
server version runs them; its DDL (``SHOW CREATE TABLE``), revision and the rows
the migrations insert are then recorded in the user cache folder, and each later
empty destination gets them replayed: the same tables, keys and constraints.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy

from mlmigrate.mlflow_cache import record, recorded

_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


def _capture(connection: sqlalchemy.Connection) -> dict[str, Any]:
    text = sqlalchemy.text
    tables = [row[0] for row in connection.execute(text("SHOW TABLES"))]
    statements = [
        _AUTO_INCREMENT.sub("", connection.execute(text(f"SHOW CREATE TABLE `{table}`")).one()[1])
        for table in tables
    ]
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    seeds = {}
    for table in tables:
        if table == "alembic_version":
            continue
        rows = [list(row) for row in connection.execute(text(f"SELECT * FROM `{table}`"))]
        if rows:
            seeds[table] = rows
    return {"revision": revision, "statements": statements, "seeds": seeds}


def create_mysql_schema(engine: sqlalchemy.Engine) -> str:
    """Create MLflow's head schema in an empty MySQL database; return the revision."""
    with engine.connect() as connection:
        server = str(connection.execute(sqlalchemy.text("SELECT VERSION()")).scalar())
    name = f"mysql-schema-{re.sub(r'[^A-Za-z0-9.]+', '_', server)}"
    template = recorded(name)
    if template is None:
        from mlflow.store.db.utils import _initialize_tables

        _initialize_tables(engine)
        with engine.connect() as connection:
            template = _capture(connection)
        record(name, template)
        return str(template["revision"])
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("SET FOREIGN_KEY_CHECKS = 0"))
        for statement in template["statements"]:
            connection.execute(sqlalchemy.text(statement.replace(":", "\\:")))
        connection.execute(
            sqlalchemy.text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
            {"revision": template["revision"]},
        )
        for table, rows in template["seeds"].items():
            marks = ", ".join(f":c{index}" for index in range(len(rows[0])))
            connection.execute(
                sqlalchemy.text(f"INSERT INTO `{table}` VALUES ({marks})"),
                [{f"c{index}": value for index, value in enumerate(row)} for row in rows],
            )
        connection.execute(sqlalchemy.text("SET FOREIGN_KEY_CHECKS = 1"))
    return str(template["revision"])
