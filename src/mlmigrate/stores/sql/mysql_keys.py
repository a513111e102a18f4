"""MySQL's and MariaDB's keys of the bulk-loaded tables.

InnoDB stores a table's rows in its primary key's order: adding a primary key after the
load rebuilds the whole table, so the primary keys stay, and a bulk load leaves out the
secondary indexes and the foreign keys. They are read from ``information_schema`` and built
back with one ``ALTER TABLE`` per table (every index of a table in one pass over it), on
:data:`CONNECTIONS` connections at once, then the foreign keys, after a check that no row
points at nothing (with foreign key checks on, MySQL would copy the whole table to add
one). Each statement is skipped when its object exists, so an interrupted build is
finished by building again.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.sql.deferred_keys import DEFERRED_TABLES

#: connections building at once
CONNECTIONS = 2

_INDEX_COLUMNS = """
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :tables AND INDEX_NAME != 'PRIMARY'
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

_FOREIGN_COLUMNS = """
SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME,
       k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
 AND r.TABLE_NAME = k.TABLE_NAME
WHERE k.CONSTRAINT_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL
  AND (k.TABLE_NAME IN :tables OR k.REFERENCED_TABLE_NAME IN :tables)
ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""


#: a secondary index's clause of ``SHOW CREATE TABLE`` (``KEY `name` (…)``, ``UNIQUE KEY …``)
_INDEX_LINE = re.compile(r"^(?:UNIQUE |FULLTEXT |SPATIAL )?KEY `((?:[^`]|``)+)`")
#: a foreign key's clause (``CONSTRAINT `name` FOREIGN KEY (…) REFERENCES …``)
_FOREIGN_LINE = re.compile(r"^CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY ")
_FOREIGN_PARTS = re.compile(r"FOREIGN KEY \(([^)]*)\) REFERENCES `([^`]+)` \(([^)]*)\)")
_NAMES = re.compile(r"`([^`]+)`")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _bound(sql: str) -> sqlalchemy.TextClause:
    return sqlalchemy.text(sql).bindparams(sqlalchemy.bindparam("tables", expanding=True))


class MysqlKeys:
    """The deferred indexes and foreign keys of an MLflow database on MySQL / MariaDB."""

    def plan(self, engine: sqlalchemy.Engine) -> dict[str, Any]:
        """Every secondary index and foreign key of the deferred tables, each as the clause
        ``SHOW CREATE TABLE`` prints for it (so it is built back exactly)."""
        indexes: list[dict[str, Any]] = []
        foreign: list[dict[str, Any]] = []
        with engine.connect() as connection:
            for table in DEFERRED_TABLES:
                created = connection.execute(sqlalchemy.text(f"SHOW CREATE TABLE {_quote(table)}")).one()[1]
                for line in str(created).splitlines():
                    clause = line.strip().rstrip(",")
                    index = _INDEX_LINE.match(clause)
                    if index is not None:
                        indexes.append({"table": table, "name": _unquote(index.group(1)), "clause": clause})
                    key = _FOREIGN_LINE.match(clause)
                    if key is not None:
                        foreign.append({"table": table, "name": _unquote(key.group(1)), "clause": clause})
        if not indexes and not foreign:
            return {}
        return {"indexes": indexes, "foreign_keys": foreign}

    def drop(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """The foreign keys, then the indexes (those still there)."""
        with engine.connect() as connection:
            held_foreign, held_indexes = self._held(connection)
            for key in plan.get("foreign_keys", []):
                if (key["table"], key["name"]) in held_foreign:
                    connection.execute(
                        sqlalchemy.text(
                            f"ALTER TABLE {_quote(key['table'])} DROP FOREIGN KEY {_quote(key['name'])}"
                        )
                    )
            for table, indexes in _by_table(plan.get("indexes", [])).items():
                dropped = [index for index in indexes if (table, index["name"]) in held_indexes]
                if dropped:
                    clauses = ", ".join(f"DROP INDEX {_quote(index['name'])}" for index in dropped)
                    connection.execute(sqlalchemy.text(f"ALTER TABLE {_quote(table)} {clauses}"))

    def build(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Each table's indexes in one statement, tables side by side; then the foreign keys."""
        by_table = _by_table(plan.get("indexes", []))
        ordered = sorted(by_table, key=lambda table: DEFERRED_TABLES.index(table))
        with ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="mlmigrate-keys") as pool:
            for future in [pool.submit(self._add, engine, table, by_table[table]) for table in ordered]:
                future.result()
        for key in plan.get("foreign_keys", []):
            self._add_foreign(engine, key)

    def _held(self, connection: sqlalchemy.Connection) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(table, name) of the foreign keys and secondary indexes there now."""
        tables = list(DEFERRED_TABLES)
        foreign = {
            (table, name)
            for table, name, *_ in connection.execute(_bound(_FOREIGN_COLUMNS), {"tables": tables})
        }
        indexes = {
            (table, name)
            for table, name, *_ in connection.execute(_bound(_INDEX_COLUMNS), {"tables": tables})
        }
        return foreign, indexes

    def _add(self, engine: sqlalchemy.Engine, table: str, indexes: list[dict[str, Any]]) -> None:
        """The table's indexes not there yet, in one ``ALTER TABLE``."""
        with engine.connect() as connection:
            _, held = self._held(connection)
            missing = [index for index in indexes if (table, index["name"]) not in held]
            if not missing:
                return
            clauses = ", ".join(f"ADD {index['clause']}" for index in missing)
            connection.execute(sqlalchemy.text(f"ALTER TABLE {_quote(table)} {clauses}"))

    def _add_foreign(self, engine: sqlalchemy.Engine, key: dict[str, Any]) -> None:
        """One foreign key, unless it exists; refused when a row points at nothing."""
        table = _quote(key["table"])
        with engine.connect() as connection:
            held, _ = self._held(connection)
            if (key["table"], key["name"]) in held:
                return
            dangling = connection.execute(sqlalchemy.text(_dangling(key["table"], key["clause"]))).first()
            if dangling is not None:
                raise StoreError(
                    f"{key['table']} holds rows that point at nothing: {key['clause']} cannot be built"
                )
            connection.execute(sqlalchemy.text("SET SESSION foreign_key_checks = 0"))
            try:
                connection.execute(sqlalchemy.text(f"ALTER TABLE {table} ADD {key['clause']}"))
            finally:
                connection.execute(sqlalchemy.text("SET SESSION foreign_key_checks = 1"))


def _by_table(indexes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for index in indexes:
        grouped.setdefault(index["table"], []).append(index)
    return grouped


def _unquote(name: str) -> str:
    return name.replace("``", "`")


def _dangling(table: str, clause: str) -> str:
    """A query that finds a row of ``table`` the foreign key ``clause`` would refuse."""
    match = _FOREIGN_PARTS.search(clause)
    if match is None:
        raise StoreError(f"cannot read the foreign key {clause!r} of {table}")
    columns, referenced, referenced_columns = (
        _NAMES.findall(match.group(1)),
        match.group(2),
        _NAMES.findall(match.group(3)),
    )
    joined = " AND ".join(f"r.`{b}` = t.`{a}`" for a, b in zip(columns, referenced_columns, strict=True))
    filled = " AND ".join(f"t.`{a}` IS NOT NULL" for a in columns)
    return (
        f"SELECT 1 FROM {_quote(table)} t WHERE {filled} AND NOT EXISTS "
        f"(SELECT 1 FROM `{referenced}` r WHERE {joined}) LIMIT 1"
    )
