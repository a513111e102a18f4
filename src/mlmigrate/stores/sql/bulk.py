"""Moving record batches in and out of SQL databases in bulk.

PostgreSQL: ``COPY … FROM STDIN`` fed with CSV that Arrow writes, and ``COPY
(SELECT …) TO STDOUT`` parsed by Arrow's CSV reader. SQLite: ``executemany``
on column lists (the driver needs Python values; nothing else is made per row).
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

_CSV_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def quote(name: str) -> str:
    """A quoted SQL identifier (MLflow uses reserved words such as ``key`` and ``value``)."""
    return '"' + name.replace('"', '""') + '"'


class PostgresBulk:
    """COPY-based load and fetch over a psycopg 3 connection."""

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table`` with one COPY."""
        if batch.num_rows == 0:
            return
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, _CSV_WRITE)
        columns = ", ".join(quote(name) for name in batch.schema.names)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(buffer.getbuffer())

    def fetch(self, connection: Any, sql: str, params: dict[str, Any], schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``."""
        literal = _inline(connection, sql, params)
        buffer = io.BytesIO()
        with connection.cursor() as cursor, cursor.copy(f"COPY ({literal}) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        if buffer.tell() == 0:
            return schema.empty_table()
        buffer.seek(0)
        return pacsv.read_csv(
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


def _inline(connection: Any, sql: str, params: dict[str, Any]) -> str:
    """``sql`` with ``:name`` parameters replaced by quoted literals (COPY takes no parameters)."""
    from psycopg import sql as pgsql

    text = sql
    for name, value in params.items():
        literal = pgsql.Literal(value).as_string(connection)
        text = text.replace(f":{name}", literal)
    return text


class SqliteBulk:
    """executemany-based load and fetch over a sqlite3 connection."""

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table``."""
        if batch.num_rows == 0:
            return
        columns = ", ".join(quote(name) for name in batch.schema.names)
        marks = ", ".join("?" * batch.num_columns)
        rows = zip(*(column.to_pylist() for column in batch.columns), strict=True)
        connection.executemany(f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})", rows)

    def fetch(self, connection: Any, sql: str, params: dict[str, Any], schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``."""
        cursor = connection.execute(sql, params)
        rows = cursor.fetchall()
        if not rows:
            return schema.empty_table()
        columns = list(zip(*rows, strict=True))
        arrays = [
            pa.array(_coerce(column, f.type), type=f.type) for column, f in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)


def _coerce(values: tuple[Any, ...], kind: pa.DataType) -> list[Any] | tuple[Any, ...]:
    """SQLite returns bools as 0/1; Arrow takes ints for float columns as they are."""
    if pa.types.is_boolean(kind):
        return [None if value is None else bool(value) for value in values]
    return values
