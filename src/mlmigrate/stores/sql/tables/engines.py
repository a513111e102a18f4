"""One adapter per engine for plain tables: connect, describe a table, count, read and write.

SQLite, PostgreSQL and MySQL/MariaDB reuse the SQL family's bulk movers (ADBC, COPY, LOAD
DATA); DuckDB moves Arrow batches through its own Arrow interface. Tables are described from
the engine's catalogue: SQLite's declared types by ``PRAGMA table_info``, DuckDB's by its
``duckdb_*`` views, the rest through SQLAlchemy's inspector.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from mlmigrate.stores.sql.tables import types
from mlmigrate.stores.sql.tables.spec import ForeignKey, Index, TableSpec, attach
from mlmigrate.uris import sqlite_path


def quoted(name: str, engine: str) -> str:
    """An identifier quoted for ``engine`` (MySQL sessions run with ANSI_QUOTES)."""
    return '"' + name.replace('"', '""') + '"'


class TableEngine:
    """The common part: SQL text, and constraints read through SQLAlchemy's inspector."""

    name = ""
    #: an expression that orders a table's rows as they were inserted (None: none the engine keeps)
    rowid: str | None = None

    def __init__(self, uri: str):
        self.uri = uri

    def q(self, name: str) -> str:
        """``name`` quoted."""
        return quoted(name, self.name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection in one transaction, committed at the end of the block."""
        raise NotImplementedError

    def run(self, connection: Any, sql: str) -> None:
        """Run one statement."""
        raise NotImplementedError

    def scalar(self, connection: Any, sql: str) -> Any:
        """The first value of a query."""
        raise NotImplementedError

    def fetch(self, connection: Any, sql: str, schema: pa.Schema) -> pa.Table:
        """A query's rows as ``schema`` (the driver's types)."""
        raise NotImplementedError

    def rows(self, connection: Any, sql: str) -> list[tuple[Any, ...]]:
        """A small query's rows as Python tuples (a table's range bounds)."""
        raise NotImplementedError

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` (the driver's types) to ``table``."""
        raise NotImplementedError

    def table_names(self) -> list[str]:
        """The database's tables."""
        return sorted(self._inspector().get_table_names())

    def describe(self, table: str) -> pa.Schema:
        """The table's columns as an Arrow schema carrying its :class:`TableSpec`."""
        inspector = self._inspector()
        fields = [
            types.field_for(self.name, c["name"], self._declared(c["type"]), bool(c["nullable"]))
            for c in inspector.get_columns(table)
        ]
        return attach(pa.schema(fields), self._spec(inspector, table))

    def select_list(self, schema: pa.Schema) -> str:
        """The column list that reads ``schema``'s columns in the driver's types."""
        return ", ".join(self.q(f.name) for f in schema)

    def close(self) -> None:
        """Release connections."""

    def _sqlalchemy_url(self) -> str:
        raise NotImplementedError

    def _inspector(self) -> Any:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self._sqlalchemy_url(), poolclass=sqlalchemy.pool.NullPool)
        self._dialect = engine.dialect
        return sqlalchemy.inspect(engine)

    def _declared(self, kind: Any) -> str:
        try:
            return str(kind.compile(dialect=self._dialect))
        except Exception:  # noqa: BLE001 - a type SQLAlchemy cannot print: its class name
            return type(kind).__name__.upper()

    def _spec(self, inspector: Any, table: str) -> TableSpec:
        primary = inspector.get_pk_constraint(table).get("constrained_columns") or []
        uniques = [list(u["column_names"]) for u in inspector.get_unique_constraints(table)]
        indexes = []
        for index in inspector.get_indexes(table):
            columns = [c for c in index.get("column_names") or [] if c is not None]
            if not columns or len(columns) != len(index.get("column_names") or []):
                continue  # an expression index: not portable
            if index.get("unique") and (columns in uniques or columns == primary):
                continue
            if index.get("duplicates_constraint"):
                continue
            indexes.append(Index(str(index["name"]), columns, bool(index.get("unique"))))
        foreign = [
            ForeignKey(list(f["constrained_columns"]), f["referred_table"], list(f["referred_columns"]))
            for f in inspector.get_foreign_keys(table)
        ]
        return TableSpec(table, list(primary), uniques, indexes, foreign)


class _OnBulk(TableEngine):
    """An engine whose statements go through a DB-API cursor and whose rows move through the
    SQL family's bulk mover (``self.bulk``: ADBC on SQLite, LOAD DATA on MySQL/MariaDB)."""

    bulk: Any

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection of the bulk mover, in one transaction (MySQL commits DDL on its own)."""
        with self.bulk.transaction() as connection:
            yield connection

    def run(self, connection: Any, sql: str) -> None:
        """Run one statement."""
        with connection.cursor() as cursor:
            cursor.execute(sql)

    def scalar(self, connection: Any, sql: str) -> Any:
        """The first value of a query."""
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
        return row[0] if row else None

    def fetch(self, connection: Any, sql: str, schema: pa.Schema) -> pa.Table:
        """A query's rows as ``schema``."""
        return self.bulk.fetch(connection, sql, 0, schema)

    def rows(self, connection: Any, sql: str) -> list[tuple[Any, ...]]:
        """A small query's rows."""
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """The bulk mover's insert (ADBC ingest, LOAD DATA LOCAL INFILE)."""
        self.bulk.insert(connection, table, batch)


class SqliteTables(_OnBulk):
    """A SQLite file: ADBC ingest and reads (the SQL family's :class:`SqliteBulk`)."""

    name = types.SQLITE
    rowid = "rowid"

    def __init__(self, uri: str):
        super().__init__(uri)
        from mlmigrate.stores.sql.bulk import SqliteBulk

        self.path = sqlite_path(uri).expanduser()
        self.bulk = SqliteBulk(self.path)

    def _sqlalchemy_url(self) -> str:
        return f"sqlite:///{self.path}"

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def table_names(self) -> list[str]:
        """The tables (not SQLite's own)."""
        if not self.path.is_file():
            return []
        rows = self._read("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return sorted(name for (name,) in rows)

    def describe(self, table: str) -> pa.Schema:
        """Columns by their declared types (SQLite keeps them as written)."""
        rows = self._read(f"PRAGMA table_info({self.q(table)})")
        primary = [name for _, name, _, _, _, position in sorted(rows, key=lambda r: r[5]) if position]
        fields = [
            # a column of the primary key is NOT NULL in every other engine: say so here too
            types.field_for(self.name, name, declared or "", not notnull and name not in primary)
            for _, name, declared, notnull, _, _ in rows
        ]
        return attach(pa.schema(fields), self._spec(self._inspector(), table))

    def close(self) -> None:
        """Remove a private snapshot copy, if any."""
        self.bulk.close()


class PostgresTables(TableEngine):
    """A PostgreSQL database: COPY in and out (the SQL family's :class:`PostgresBulk`)."""

    name = types.POSTGRESQL
    rowid = "ctid"

    def __init__(self, uri: str):
        super().__init__(uri)
        from mlmigrate.stores.sql.bulk import PostgresBulk

        self.bulk = PostgresBulk(uri)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A psycopg connection in one transaction."""
        with self.bulk.transaction() as connection:
            yield connection

    def run(self, connection: Any, sql: str) -> None:
        """Run one statement."""
        connection.execute(sql)

    def scalar(self, connection: Any, sql: str) -> Any:
        """The first value of a query."""
        found = self.rows(connection, sql)
        return found[0][0] if found else None

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection that reads: ADBC's (binary COPY straight into Arrow, without a Python
        call per row) where ``adbc-driver-postgresql`` is installed, else psycopg's."""
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError:
            adbc = None
        if adbc is None:
            with self.transaction() as connection:
                yield connection
            return
        connection = adbc.connect(self.bulk.conninfo)
        try:
            yield _AdbcReading(connection)
        finally:
            connection.close()

    def fetch(self, connection: Any, sql: str, schema: pa.Schema) -> pa.Table:
        """The query's rows: ADBC's Arrow result (:meth:`reading`), else COPY (query) TO
        STDOUT parsed by Arrow (also for a column ADBC hands in a form Arrow cannot cast)."""
        if isinstance(connection, _AdbcReading):
            with connection.cursor() as cursor:
                cursor.execute(sql)
                table = cursor.fetch_arrow_table()
            try:
                return _as_schema(table, schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                with self.transaction() as fallback:
                    return self.bulk.fetch(fallback, sql, 0, schema)
        return self.bulk.fetch(connection, sql, 0, schema)

    def rows(self, connection: Any, sql: str) -> list[tuple[Any, ...]]:
        """A small query's rows."""
        if isinstance(connection, _AdbcReading):
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return [tuple(row) for row in cursor.fetchall()]
        return [tuple(row) for row in connection.execute(sql).fetchall()]

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """COPY FROM STDIN."""
        self.bulk.insert(connection, table, batch)

    def select_list(self, schema: pa.Schema) -> str:
        """Time zone-aware timestamps as UTC wall time (Arrow's CSV parser takes no ``+00``)."""
        parts = []
        for column in schema:
            name = self.q(column.name)
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                parts.append(f"({name} AT TIME ZONE 'UTC') AS {name}")
            else:
                parts.append(name)
        return ", ".join(parts)

    def _sqlalchemy_url(self) -> str:
        return "postgresql+psycopg://" + self.uri.split("://", 1)[1]

    def close(self) -> None:
        """Close idle connections."""
        self.bulk.close()


class _AdbcReading:
    """An ADBC PostgreSQL connection lent for reading (told apart from psycopg's)."""

    def __init__(self, connection: Any):
        self.connection = connection

    def cursor(self) -> Any:
        """A DB-API cursor."""
        return self.connection.cursor()


def _as_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """ADBC's columns as ``schema``: an extension column (PostgreSQL's numeric, json) by its
    storage, each cast to the type asked for."""
    arrays = []
    for column, field in zip(table.columns, schema, strict=True):
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)
        arrays.append(column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class MysqlTables(_OnBulk):
    """A MySQL or MariaDB database: LOAD DATA in, cursor or connectorx reads (:class:`MysqlBulk`)."""

    name = types.MYSQL

    def __init__(self, uri: str):
        super().__init__(uri)
        from mlmigrate.stores.sql.mysql_bulk import MysqlBulk

        self.bulk = MysqlBulk(uri)

    def _sqlalchemy_url(self) -> str:
        return "mysql+pymysql://" + self.uri.split("://", 1)[1]

    def close(self) -> None:
        """Close idle connections."""
        self.bulk.close()


def engine_for(uri: str) -> TableEngine:
    """The adapter of ``uri``'s engine."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "duckdb":
        from mlmigrate.stores.sql.tables.duckdb_engine import DuckdbTables

        return DuckdbTables(uri)
    if scheme == "sqlite":
        return SqliteTables(uri)
    if scheme in ("postgresql", "postgres"):
        return PostgresTables(uri)
    return MysqlTables(uri)
