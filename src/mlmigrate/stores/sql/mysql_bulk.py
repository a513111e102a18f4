"""Moving record batches in and out of MySQL / MariaDB in bulk (PyMySQL).

Writes go through ``LOAD DATA LOCAL INFILE`` fed with CSV that Arrow writes (no
Python object per row). MySQL's CSV reader cannot tell an unquoted empty field
(Arrow's NULL) from a quoted one (an empty string), so every column is loaded
through a user variable: NULL strings are written as a marker string absent from
the batch, NULL numbers as an empty field, and ``NULLIF`` turns both back into NULL.
``LOCAL`` makes the server skip duplicate keys with a warning instead of failing,
so every load checks that each row arrived and raises on any warning.

Sessions run with ``ANSI_QUOTES`` so the SQL text shared with the other
databases (double-quoted identifiers) means the same here.

PyMySQL makes a Python object per value, which is slow for big reads. Reads that
need no snapshot spanning several queries (reading back what a migration has
committed) of more than :data:`ARROW_FROM_ROWS` rows go through connectorx instead,
which returns Arrow tables directly; a result whose column types it does not map
exactly is read through PyMySQL.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlmigrate.stores.sql.bulk import _coerce, quote
from mlmigrate.stores.sql.idle import IdleConnections

_CSV_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="needed")
_SQL_MODE = "ANSI_QUOTES,STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
_NULL_MARKER = "\x1emlmigrate-null\x1e"


class LoadError(Exception):
    """A ``LOAD DATA`` did not store every row exactly (a duplicate key, a value out of range)."""

    def __init__(self, message: str, *, duplicate: bool):
        super().__init__(message)
        self.duplicate = duplicate


def connect_arguments(uri: str) -> dict[str, Any]:
    """PyMySQL ``connect`` keyword arguments for a ``mysql://`` URI."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    arguments: dict[str, Any] = {
        "host": url.host or "localhost",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "database": url.database,
        "charset": "utf8mb4",
        "local_infile": True,
        "autocommit": False,
    }
    if "unix_socket" in url.query:
        arguments["unix_socket"] = url.query["unix_socket"]
    return arguments


#: rows from which a committed read goes through connectorx (a query there costs about
#: 1.5 ms more than through an open PyMySQL connection; a row about 3 µs less)
ARROW_FROM_ROWS = 1000
_DEFAULT_TLS: list[Any] = []  # PyMySQL's context for its preferred-TLS mode, made once


@functools.cache
def _connection_class() -> type:
    import pymysql.connections

    class Connection(pymysql.connections.Connection):  # type: ignore[misc]
        """PyMySQL's connection, with the context of its preferred-TLS mode (no TLS option
        given) made once per process instead of once per connection (20 ms: it loads the
        system's CA certificates). Explicit TLS options still get a context of their own."""

        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp:
                return super()._create_ssl_ctx(sslp)
            if not _DEFAULT_TLS:
                _DEFAULT_TLS.append(super()._create_ssl_ctx(sslp))
            return _DEFAULT_TLS[0]

    return Connection


def mysql_connection(*args: Any, **kwargs: Any) -> Any:
    """A PyMySQL connection (``pymysql.connect``'s arguments) that reuses the default TLS context."""
    return _connection_class()(*args, **kwargs)


def _marker_for(column: pa.ChunkedArray | pa.Array) -> str:
    """A string that none of ``column``'s values equals, to stand for NULL."""
    marker = _NULL_MARKER
    while pc.any(pc.equal(column, marker)).as_py():
        marker += "\x1e"
    return marker


#: a single-quoted SQL string literal, or a double-quoted identifier
_QUOTED = re.compile("'(?:[^']|'')*'|\"((?:[^\"]|\"\")*)\"")


def _backquoted(sql: str) -> str:
    """``sql`` with its double-quoted identifiers in backquotes (for a session without ANSI_QUOTES)."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        return match.group(0) if name is None else "`" + name.replace('""', '"').replace("`", "``") + "`"

    return _QUOTED.sub(swap, sql)


def _fits(found: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether connectorx's column type converts to ``wanted`` without changing a value."""
    if pa.types.is_string(wanted):
        return pa.types.is_string(found) or pa.types.is_large_string(found) or pa.types.is_null(found)
    if pa.types.is_integer(wanted) or pa.types.is_boolean(wanted):
        return pa.types.is_integer(found) or pa.types.is_null(found)
    if pa.types.is_floating(wanted):  # a FLOAT column is single precision there: not mapped
        return pa.types.is_float64(found) or pa.types.is_integer(found) or pa.types.is_null(found)
    if pa.types.is_binary(wanted):
        return pa.types.is_binary(found) or pa.types.is_large_binary(found) or pa.types.is_null(found)
    return False


class MysqlBulk:
    """``LOAD DATA LOCAL INFILE`` loads and cursor fetches over PyMySQL connections."""

    def __init__(self, uri: str):
        self._arguments = connect_arguments(uri)
        self._pinned: Any = None
        self._pinned_lock = threading.Lock()
        self._idle = IdleConnections()
        #: only committed rows that no longer change are read: a big result may come through
        #: connectorx, outside the unit's snapshot
        self.committed_reads = False
        #: queries (before their unit is bound) that returned many rows: not counted again
        self._big_results: set[str] = set()

    def pin(self) -> str | None:
        """Hold one consistent snapshot for every later read of this object. MySQL cannot hand a
        snapshot to another session, so those reads share this one connection, one at a time."""
        self._pinned = self._connect()
        with self._pinned.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        return None

    def adopt(self, token: str) -> None:
        """Nothing: MySQL hands no snapshot to another session (:meth:`pin` gives no token)."""

    def read_committed(self) -> None:
        """Read only committed rows that no longer change: big results may come through connectorx."""
        self.committed_reads = True

    def close(self) -> None:
        """End the pinned snapshot, if any, and close the idle connections."""
        self._idle.close()
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None

    def _connect(self) -> Any:
        connection = mysql_connection(**self._arguments)
        with connection.cursor() as cursor:
            cursor.execute(f"SET SESSION sql_mode = '{_SQL_MODE}'")
            cursor.execute("SET SESSION time_zone = '+00:00'")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection inside one transaction, committed when the block ends without error."""
        with self._idle.lent(self._connect) as connection:  # closed, so rolled back, on error
            with connection.cursor() as cursor:
                # no gap locks: two units written at once must not wait on each other's ranges
                cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            connection.begin()
            yield connection
            connection.commit()

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A read-only, repeatable-read transaction: every read sees one consistent state."""
        if self._pinned is not None:
            with self._pinned_lock:
                yield self._pinned
            return
        with self._idle.lent(self._connect) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            yield connection
            connection.rollback()

    def execute(self, connection: Any, sql: str, unit: int | str | None) -> None:
        """Run a statement with its ``:unit`` parameter, if it has one (without, its text is
        sent as it is: a ``%`` in a literal stays)."""
        with connection.cursor() as cursor:
            if ":unit" in sql:
                cursor.execute(sql.replace(":unit", "%(unit)s"), {"unit": unit})
            else:
                cursor.execute(sql)

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table`` with one ``LOAD DATA LOCAL INFILE``."""
        if batch.num_rows == 0:
            return
        arrays: list[pa.Array] = []
        targets: list[str] = []
        for index, field in enumerate(batch.schema):
            column = batch.column(index)
            name = quote(field.name)
            if pa.types.is_boolean(field.type):
                column = column.cast(pa.int8())
            if pa.types.is_binary(field.type):
                # NULL as "N" (no hex digit), so that empty bytes stay empty, not NULL
                hexed = ["N" if v is None else v.hex() for v in column.to_pylist()]
                arrays.append(pa.array(hexed, pa.string()))
                targets.append(f"{name} = UNHEX(NULLIF(@c{index}, 'N'))")
                continue
            if pa.types.is_string(field.type) and column.null_count:
                marker = _marker_for(column)
                column = column.fill_null(marker)
                targets.append(f"{name} = NULLIF(@c{index}, '{marker}')")
            elif column.null_count:
                targets.append(f"{name} = NULLIF(@c{index}, '')")
            else:
                targets.append(f"{name} = @c{index}")
            arrays.append(column)
        shaped = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
        variables = ", ".join(f"@c{index}" for index in range(len(arrays)))
        handle, path = tempfile.mkstemp(prefix="mlmigrate-load-", suffix=".csv")
        try:
            with os.fdopen(handle, "wb") as sink:
                pacsv.write_csv(shaped, sink, _CSV_WRITE)
            with connection.cursor() as cursor:
                loaded = cursor.execute(
                    f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {quote(table)} CHARACTER SET utf8mb4 "
                    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                    f"LINES TERMINATED BY '\\n' ({variables}) SET {', '.join(targets)}"
                )
                if loaded != batch.num_rows or cursor.warning_count:
                    cursor.execute("SHOW WARNINGS LIMIT 3")
                    shown = "; ".join(f"{code} {text}" for _, code, text in cursor.fetchall())
                    raise LoadError(
                        f"{table}: {loaded} of {batch.num_rows} rows stored ({shown or 'no warning'})",
                        duplicate="Duplicate entry" in shown,
                    )
        finally:
            os.unlink(path)

    def _connectorx_url(self) -> str | None:
        arguments = self._arguments
        if "unix_socket" in arguments:
            return None
        user = urllib.parse.quote(arguments["user"], safe="")
        password = urllib.parse.quote(arguments["password"], safe="")
        credentials = f"{user}:{password}" if password else user
        return f"mysql://{credentials}@{arguments['host']}:{arguments['port']}/{arguments['database']}"

    def _fetch_arrow(self, sql: str, unit: int | str, schema: pa.Schema) -> pa.Table | None:
        """``sql``'s rows through connectorx, or None when it is missing or maps a type otherwise."""
        url = self._connectorx_url()
        if url is None:
            return None
        try:
            import connectorx
            import pymysql.converters
        except ImportError:
            return None
        text = _backquoted(sql).replace(":unit", pymysql.converters.escape_item(unit, "utf8mb4"))
        table = connectorx.read_sql(url, text, return_type="arrow")
        if table.num_columns != len(schema) or not all(
            _fits(found.type, wanted.type) for found, wanted in zip(table.schema, schema, strict=True)
        ):
            return None
        return table.rename_columns(schema.names).cast(schema)

    def fetch(self, connection: Any, sql: str, unit: int | str, schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``. With :attr:`committed_reads`,
        a result of many rows comes through connectorx (its own connection, outside the snapshot)."""
        parameters = {"unit": unit} if ":unit" in sql else None
        bound = sql.replace(":unit", "%(unit)s")
        if self.committed_reads and self._pinned is None:
            if sql in self._big_results:  # big for an earlier unit: most likely big again
                count = ARROW_FROM_ROWS + 1
            else:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT COUNT(*) FROM ({bound}) AS counted", parameters)
                    (count,) = cursor.fetchone()
            if count > ARROW_FROM_ROWS and (table := self._fetch_arrow(sql, unit, schema)) is not None:
                if table.num_rows > ARROW_FROM_ROWS:
                    self._big_results.add(sql)
                return table
        with connection.cursor() as cursor:
            cursor.execute(bound, parameters)
            rows = cursor.fetchall()
        if not rows:
            return schema.empty_table()
        columns = zip(*rows, strict=True)
        arrays = [
            pa.array(_coerce(column, f.type), type=f.type) for column, f in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)
