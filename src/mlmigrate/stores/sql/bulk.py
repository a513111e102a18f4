"""Moving record batches in and out of SQL databases in bulk, one driver per database.

PostgreSQL (psycopg 3): ``COPY … FROM STDIN`` fed with CSV that Arrow writes, and
``COPY (SELECT …) TO STDOUT`` parsed by Arrow's CSV reader. SQLite: Arrow Database
Connectivity (ADBC) ingests and reads record batches without a Python object per row.

SQL text names its one parameter ``:unit`` (an experiment id or a model name).
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mlmigrate.stores.sql.idle import IdleConnections
from mlmigrate.stores.sql.session_limits import limited_conninfo

#: ADBC SQLite statement option: rows per batch, which are also the rows types are inferred from
_BATCH_ROWS = "adbc.sqlite.query.batch_rows"
_CSV_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def quote(name: str) -> str:
    """A quoted SQL identifier (MLflow uses reserved words such as ``key`` and ``value``)."""
    return '"' + name.replace('"', '""') + '"'


class PostgresBulk:
    """COPY-based load and fetch over psycopg 3 connections."""

    def __init__(self, uri: str):
        self.conninfo = limited_conninfo("postgresql://" + uri.split("://", 1)[1])
        #: an exported snapshot every read transaction adopts (pg_export_snapshot)
        self.snapshot_id: str | None = None
        self._pinned: Any = None
        self._idle = IdleConnections()

    def pin(self) -> str:
        """Export the current state as a snapshot that every later read (in any process) adopts;
        the exporting transaction stays open until :meth:`close`."""
        import psycopg

        self._pinned = psycopg.connect(self.conninfo)
        self._pinned.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.snapshot_id = str(self._pinned.execute("SELECT pg_export_snapshot()").fetchone()[0])
        return self.snapshot_id

    def adopt(self, token: str) -> None:
        """Read the snapshot another process exported (:meth:`pin`)."""
        self.snapshot_id = token

    def read_committed(self) -> None:
        """Nothing: COPY reads are as fast inside a snapshot as outside."""

    def close(self) -> None:
        """End the exporting transaction, if any, and close the idle connections."""
        self._idle.close()
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection inside one transaction, committed when the block ends without error."""
        import psycopg

        with self._idle.lent(lambda: psycopg.connect(self.conninfo)) as connection, connection.transaction():
            yield connection

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A read-only, repeatable-read transaction: every read sees one consistent state."""
        import psycopg

        with self._idle.lent(lambda: psycopg.connect(self.conninfo)) as connection:
            connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if self.snapshot_id is not None:
                connection.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot_id}'")
            yield connection
            connection.rollback()

    def execute(self, connection: Any, sql: str, unit: int | str) -> None:
        """Run a statement with its ``:unit`` parameter."""
        connection.execute(sql.replace(":unit", "%(unit)s"), {"unit": unit})

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table`` with one COPY."""
        if batch.num_rows == 0:
            return
        for index, field in enumerate(batch.schema):
            if pa.types.is_binary(field.type):  # bytea's hex input form
                text = [None if v is None else "\\x" + v.hex() for v in batch.column(index).to_pylist()]
                batch = batch.set_column(index, field.name, pa.array(text, pa.string()))
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, _CSV_WRITE)
        columns = ", ".join(quote(name) for name in batch.schema.names)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(buffer.getbuffer())

    def fetch(self, connection: Any, sql: str, unit: int | str, schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``."""
        from psycopg import sql as pgsql

        literal = sql.replace(":unit", pgsql.Literal(unit).as_string(connection))
        buffer = io.BytesIO()
        with connection.cursor() as cursor, cursor.copy(f"COPY ({literal}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        if buffer.tell() == 0:
            return schema.empty_table()
        buffer.seek(0)
        table = pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=schema.names),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t", "true"],
                false_values=["f", "false"],
            ),
        ).cast(schema)
        for index, field in enumerate(schema):
            if pa.types.is_binary(field.type):  # bytea came as its hex text, \x…
                values = [
                    None if v is None else bytes.fromhex(v[2:].decode())
                    for v in table.column(index).to_pylist()
                ]
                table = table.set_column(index, field, pa.array(values, pa.binary()))
        return table


class SqliteBulk:
    """ADBC ingest and ``sqlite3`` fetch on one database file."""

    def __init__(self, path: Path):
        self.path = path
        self._pinned_folder: Path | None = None  # the private copy this object made

    def pin(self) -> str:
        """Copy the database as it is now (SQLite's online backup, one step under a read lock)
        into a private file that later reads use (:meth:`close` removes it); return its path."""
        import tempfile

        folder = tempfile.mkdtemp(prefix="mlmigrate-snapshot-")
        copy = Path(folder) / self.path.name
        # read-only: a missing source file must not be created
        source = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        self._pinned_folder = Path(folder)
        self.adopt(str(copy))
        return str(copy)

    def adopt(self, token: str) -> None:
        """Read the private copy :meth:`pin` made (in this process or another)."""
        self.path = Path(token)

    def read_committed(self) -> None:
        """Nothing: there is one way to read SQLite."""

    def close(self) -> None:
        """Remove the private copy this object made, if any."""
        if self._pinned_folder is not None:
            import shutil

            shutil.rmtree(self._pinned_folder, ignore_errors=True)
            self._pinned_folder = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """An ADBC connection inside one transaction, committed when the block ends without error."""
        import adbc_driver_sqlite.dbapi

        connection = adbc_driver_sqlite.dbapi.connect(str(self.path))
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 60000")
                cursor.execute("PRAGMA cache_size = -262144")
            yield connection
            connection.commit()
        except BaseException:
            # SQLite ends the transaction itself on some errors ("database or disk is full"):
            # the rollback's own "cannot rollback - no transaction is active" must not hide
            # them, and closing the connection rolls back whatever is left
            with suppress(Exception):
                connection.rollback()
            raise
        finally:
            connection.close()

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A read transaction: every read sees one consistent state."""
        with self.transaction() as connection:
            yield connection

    def execute(self, connection: Any, sql: str, unit: int | str) -> None:
        """Run a statement with its ``:unit`` parameter."""
        with connection.cursor() as cursor:
            cursor.execute(sql, (unit,) if ":unit" in sql else None)

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table``."""
        if batch.num_rows == 0:
            return
        with connection.cursor() as cursor:
            cursor.adbc_ingest(table, batch, mode="append")

    def fetch(self, connection: Any, sql: str, unit: int | str, schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``.

        ADBC infers column types from the first rows; where a later row does not fit (a
        column NULL at first, say) the query is read again with every row in the inference.
        Only if that fails too is it read through ``sqlite3``: a second SQLite library in one
        process must stay away from a file that ADBC holds a transaction on (POSIX locks are
        per process, so either library's unlock drops the other's locks).
        """
        for infer_from_all_rows in (False, True):
            try:
                with connection.cursor() as cursor:
                    if infer_from_all_rows:
                        cursor.adbc_statement.set_options(**{_BATCH_ROWS: str(2**31 - 1)})
                    cursor.execute(sql, (unit,) if ":unit" in sql else None)
                    table = cursor.fetch_arrow_table()
                return table.rename_columns(schema.names).cast(schema)
            except Exception:  # type inference or conversion
                continue
        return self._fetch_with_sqlite3(sql, unit, schema)

    def _fetch_with_sqlite3(self, sql: str, unit: int | str, schema: pa.Schema) -> pa.Table:
        with sqlite3.connect(self.path, timeout=60) as connection:
            rows = connection.execute(sql, {"unit": unit} if ":unit" in sql else ()).fetchall()
        if not rows:
            return schema.empty_table()
        columns = zip(*rows, strict=True)
        arrays = [
            pa.array(_coerce(column, f.type), type=f.type) for column, f in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)


def _coerce(values: tuple[Any, ...], kind: pa.DataType) -> list[Any] | tuple[Any, ...]:
    """SQLite and MySQL return bools as 0/1, MySQL dates as dates (their ISO text here);
    Arrow takes ints for float columns as they are."""
    if pa.types.is_boolean(kind):
        return [None if value is None else bool(value) for value in values]
    if pa.types.is_string(kind) and any(not isinstance(v, str | None) for v in values):
        return [v if v is None or isinstance(v, str) else _text(v) for v in values]
    return values


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)
