"""SQLite's indexes of the bulk-loaded tables.

SQLite cannot add a primary key, unique or foreign key to a table that exists: they are
part of its ``CREATE TABLE``, and putting them back after a bare load means copying every
row into a new table, which measured slower than loading through them. So a bulk load
into SQLite keeps the tables as MLflow's migrations made them and leaves out their
secondary indexes (``CREATE INDEX``), which are built at the end with the very statements
``sqlite_master`` held: one transaction each, skipped when the index exists, so an
interrupted build is finished by building again.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import sqlalchemy

from mlmigrate.stores.sql.deferred_keys import DEFERRED_TABLES

_INDEXES = """
SELECT name, tbl_name, sql FROM sqlite_master
WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({tables})
ORDER BY rowid
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteKeys:
    """The deferred indexes of an MLflow database on SQLite."""

    def plan(self, engine: sqlalchemy.Engine) -> dict[str, Any]:
        """Each secondary index of the deferred tables, with the statement that made it."""
        tables = ", ".join(f"'{table}'" for table in DEFERRED_TABLES)
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(_INDEXES.format(tables=tables)))
            indexes = [{"name": name, "table": table, "definition": sql} for name, table, sql in rows]
        return {"indexes": indexes} if indexes else {}

    def drop(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Drop the indexes (those still there), in one transaction."""
        with closing(engine.raw_connection()) as raw:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            for index in plan.get("indexes", []):
                cursor.execute(f"DROP INDEX IF EXISTS {_quote(index['name'])}")
            cursor.execute("COMMIT")

    def build(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Create the indexes not there yet, in the order the migrations made them."""
        for index in plan.get("indexes", []):
            self._add(engine, index)

    def _add(self, engine: sqlalchemy.Engine, index: dict[str, Any]) -> None:
        """One index, in a transaction of its own, unless it exists."""
        with closing(engine.raw_connection()) as raw:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            held = cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (index["name"],)
            ).fetchone()
            if held is None:
                cursor.execute(index["definition"])
            cursor.execute("COMMIT")
