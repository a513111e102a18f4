"""DuckDB: Arrow in and out through DuckDB's own Arrow interface, one connection per store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.stores.sql.tables import types
from mlmigrate.stores.sql.tables.engines import TableEngine
from mlmigrate.stores.sql.tables.spec import ForeignKey, Index, TableSpec, attach


def duckdb_path(uri: str) -> Path:
    """The file a ``duckdb:///relative.duckdb`` or ``duckdb:////abs.duckdb`` URI names."""
    rest = uri.split("://", 1)[1]
    if not rest.startswith("/"):
        raise ValueError(f"{uri!r}: write duckdb:///relative.duckdb or duckdb:////absolute.duckdb")
    return Path(rest[1:].split("?", 1)[0])


class DuckdbTables(TableEngine):
    """A DuckDB file. DuckDB lets one process write a file, so a store holds one connection,
    opened read-only until something is written."""

    name = types.DUCKDB
    rowid = "rowid"

    def __init__(self, uri: str):
        super().__init__(uri)
        self.path = duckdb_path(uri).expanduser()
        self._connection: Any = None
        self._writable = False
        self._lock = threading.RLock()

    def connection(self, *, write: bool = False) -> Any:
        """The store's connection (reopened for writing when asked and read-only so far)."""
        import duckdb

        if self._connection is not None and (self._writable or not write):
            return self._connection
        if self._connection is not None:
            self._connection.close()
        writable = write or not self.path.exists()
        if writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(self.path), read_only=not writable)
        self._connection.execute("SET TimeZone = 'UTC'")
        self._writable = writable
        return self._connection

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor of the store's connection in one transaction."""
        with self._lock:
            cursor = self.connection(write=True).cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor that reads."""
        with self._lock:
            cursor = self.connection().cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            try:
                yield cursor
            finally:
                cursor.close()

    def run(self, connection: Any, sql: str) -> None:
        """Run one statement."""
        connection.execute(sql)

    def scalar(self, connection: Any, sql: str) -> Any:
        """The first value of a query."""
        rows = connection.execute(sql).fetchall()  # to the end: DuckDB holds an unfinished result
        return rows[0][0] if rows else None

    def rows(self, connection: Any, sql: str) -> list[tuple[Any, ...]]:
        """A small query's rows."""
        return [tuple(row) for row in connection.execute(sql).fetchall()]

    def fetch(self, connection: Any, sql: str, schema: pa.Schema) -> pa.Table:
        """The query's rows, straight from DuckDB's Arrow result."""
        table = connection.sql(sql).to_arrow_table()
        return pa.Table.from_arrays(
            [table.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema
        )

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """INSERT … SELECT from the Arrow batch, registered as a view."""
        if batch.num_rows == 0:
            return
        connection.register("mlmigrate_batch", batch)
        try:
            columns = ", ".join(self.q(n) for n in batch.schema.names)
            connection.execute(
                f"INSERT INTO {self.q(table)} ({columns}) SELECT {columns} FROM mlmigrate_batch"
            )
        finally:
            connection.unregister("mlmigrate_batch")

    def select_list(self, schema: pa.Schema) -> str:
        """JSON as its text."""
        parts = []
        for column in schema:
            name = self.q(column.name)
            logical = (column.metadata or {}).get(b"mlmigrate.logical")
            parts.append(f"CAST({name} AS VARCHAR) AS {name}" if logical == b"json" else name)
        return ", ".join(parts)

    def table_names(self) -> list[str]:
        """The main schema's tables."""
        if not self.path.exists():
            return []
        with self.reading() as cursor:
            rows = cursor.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
            ).fetchall()
        return sorted(name for (name,) in rows)

    def describe(self, table: str) -> pa.Schema:
        """Columns, constraints and indexes from DuckDB's catalogue views."""
        with self.reading() as cursor:
            columns = cursor.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            constraints = cursor.execute(
                "SELECT constraint_type, constraint_column_names, referenced_table, referenced_column_names "
                "FROM duckdb_constraints() WHERE schema_name = 'main' AND table_name = ? "
                "ORDER BY constraint_index",
                [table],
            ).fetchall()
            indexes = cursor.execute(
                "SELECT index_name, is_unique, expressions FROM duckdb_indexes() "
                "WHERE schema_name = 'main' AND table_name = ?",
                [table],
            ).fetchall()
        spec = TableSpec(table)
        for kind, names, referenced, referenced_names in constraints:
            if kind == "PRIMARY KEY":
                spec.primary_key = list(names)
            elif kind == "UNIQUE":
                spec.uniques.append(list(names))
            elif kind == "FOREIGN KEY":
                spec.foreign_keys.append(ForeignKey(list(names), referenced, list(referenced_names)))
        known = {c for c, _, _ in columns}
        for name, unique, expressions in indexes:
            names = [e.strip().strip("'").strip('"') for e in str(expressions).strip("[]").split(",")]
            if all(n in known for n in names):
                spec.indexes.append(Index(name, names, bool(unique)))
        fields = [
            types.field_for(self.name, name, declared, bool(nullable)) for name, declared, nullable in columns
        ]
        return attach(pa.schema(fields), spec)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
