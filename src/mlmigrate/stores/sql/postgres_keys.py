"""PostgreSQL's keys of the bulk-loaded tables: read from ``pg_constraint`` and ``pg_index``,
dropped in one transaction, built back with the definitions PostgreSQL itself printed
(``pg_get_constraintdef``, ``pg_get_indexdef``), so ``pg_dump --schema-only`` reads the same.

Primary and unique keys go first, on :data:`CONNECTIONS` connections at once (one table
each: adding a key locks its table), then the other indexes the same way, then the foreign
keys one at a time (each locks the table it points at). Each statement commits on its own
and is skipped when its object exists, so a build interrupted half-way is finished by
building again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy

from mlmigrate.stores.sql.deferred_keys import DEFERRED_TABLES

#: connections building at once (PostgreSQL builds each index in its own backend)
CONNECTIONS = 2
#: memory each build may sort in (PostgreSQL's default, 64 MB, spills the metric key to disk)
MAINTENANCE_MEMORY = "512MB"

_CONSTRAINTS = """
SELECT con.conname, rel.relname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
WHERE rel.relnamespace = current_schema()::regnamespace
  AND con.contype IN ('p', 'u', 'f')
  AND (rel.relname = ANY(:tables) OR ref.relname = ANY(:tables))
ORDER BY con.conname
"""

_INDEXES = """
SELECT idx.relname, rel.relname, pg_get_indexdef(idx.oid)
FROM pg_index ind
JOIN pg_class idx ON idx.oid = ind.indexrelid
JOIN pg_class rel ON rel.oid = ind.indrelid
WHERE rel.relnamespace = current_schema()::regnamespace
  AND rel.relname = ANY(:tables)
  AND NOT EXISTS (
    SELECT 1 FROM pg_constraint con
    WHERE con.conindid = ind.indexrelid AND con.contype IN ('p', 'u', 'x')
  )
ORDER BY idx.relname
"""

_HELD_CONSTRAINT = """
SELECT 1 FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
WHERE con.conname = :name AND rel.relname = :table
  AND rel.relnamespace = current_schema()::regnamespace
"""


def _quote(engine: sqlalchemy.Engine, name: str) -> str:
    return str(engine.dialect.identifier_preparer.quote(name))


class PostgresKeys:
    """The deferred keys of an MLflow database on PostgreSQL."""

    def plan(self, engine: sqlalchemy.Engine) -> dict[str, Any]:
        """Every key, constraint and index of the deferred tables, as PostgreSQL prints them."""
        tables = list(DEFERRED_TABLES)
        with engine.connect() as connection:
            constraints = [
                {"name": name, "table": table, "type": kind, "definition": definition}
                for name, table, kind, definition in connection.execute(
                    sqlalchemy.text(_CONSTRAINTS), {"tables": tables}
                )
            ]
            indexes = [
                {"name": name, "table": table, "definition": definition}
                for name, table, definition in connection.execute(
                    sqlalchemy.text(_INDEXES), {"tables": tables}
                )
            ]
        if not constraints and not indexes:
            return {}
        return {"constraints": constraints, "indexes": indexes}

    def drop(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Foreign keys, then indexes, then primary and unique keys, in one transaction."""
        constraints = plan.get("constraints", [])
        statements = [
            f"ALTER TABLE {_quote(engine, c['table'])} DROP CONSTRAINT IF EXISTS {_quote(engine, c['name'])}"
            for c in constraints
            if c["type"] == "f"
        ]
        statements += [f"DROP INDEX IF EXISTS {_quote(engine, i['name'])}" for i in plan.get("indexes", [])]
        statements += [
            f"ALTER TABLE {_quote(engine, c['table'])} DROP CONSTRAINT IF EXISTS {_quote(engine, c['name'])}"
            for c in constraints
            if c["type"] != "f"
        ]
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sqlalchemy.text(statement))

    def build(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Keys, then indexes, on :data:`CONNECTIONS` connections; then the foreign keys."""
        constraints = plan.get("constraints", [])
        keys = [c for c in constraints if c["type"] != "f"]
        foreign = [c for c in constraints if c["type"] == "f"]
        indexes = [{**i, "definition": _if_not_exists(i["definition"])} for i in plan.get("indexes", [])]
        with ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="mlmigrate-keys") as pool:
            for step in (keys, indexes):
                # the biggest table first, so the other connection takes the small ones meanwhile
                ordered = sorted(step, key=lambda item: DEFERRED_TABLES.index(item["table"]))
                for future in [pool.submit(self._add, engine, item) for item in ordered]:
                    future.result()
        for constraint in foreign:
            self._add(engine, constraint)

    def _add(self, engine: sqlalchemy.Engine, item: dict[str, Any]) -> None:
        """Build one key or index in a transaction of its own, unless it exists."""
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_MEMORY}'"))
            if "type" not in item:  # an index: CREATE INDEX IF NOT EXISTS …
                connection.execute(sqlalchemy.text(item["definition"].replace(":", "\\:")))
                return
            held = connection.execute(
                sqlalchemy.text(_HELD_CONSTRAINT), {"name": item["name"], "table": item["table"]}
            ).first()
            if held is None:
                table, name = _quote(engine, item["table"]), _quote(engine, item["name"])
                definition = item["definition"].replace(":", "\\:")
                connection.execute(sqlalchemy.text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def _if_not_exists(definition: str) -> str:
    """``CREATE [UNIQUE] INDEX name …`` as ``CREATE [UNIQUE] INDEX IF NOT EXISTS name …``."""
    head, _, rest = definition.partition(" INDEX ")
    return f"{head} INDEX IF NOT EXISTS {rest}"
