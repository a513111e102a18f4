"""Row ranges of a big table, bounded by the values of an ordered key (keyset pagination).

A table with a primary key (or a unique key of NOT NULL columns) of integer and text columns,
of one column or several, is split at every ``size``-th key value in the key's order; a range
is then ``lower <= key < upper`` and reads the same rows on any engine the table is copied to,
in any order the engine keeps them, without an offset and without a row id. Text is compared
byte by byte (PostgreSQL's ``"C"`` collation, MySQL's ``BINARY``; SQLite and DuckDB compare so
already), so a range holds the same rows on each. The bounds travel in the unit's id.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mlmigrate.stores.sql.tables import types
from mlmigrate.stores.sql.tables.spec import spec_of

Bound = list[Any] | None


@dataclass(frozen=True)
class KeyRange:
    """The key columns and the bounds of one range (``None``: open on that side)."""

    columns: list[str]
    lower: Bound
    upper: Bound

    def encode(self) -> str:
        """The range as unit-id text (URL-safe base64 of its JSON: no ``#`` or ``/``)."""
        text = json.dumps([self.columns, self.lower, self.upper], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> KeyRange:
        """The inverse of :meth:`encode`."""
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        columns, lower, upper = json.loads(data)
        return cls(list(columns), lower, upper)


def _orderable(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)


def split_key(schema: pa.Schema) -> list[str] | None:
    """The columns a table is split by: its primary key, else a unique key of NOT NULL columns,
    when every column of it is an integer or text; None when it has no such key."""
    spec = spec_of(schema)
    if spec is None:
        return None
    candidates = [spec.primary_key] if spec.primary_key else []
    candidates += [u for u in spec.uniques if all(not schema.field(c).nullable for c in u)]
    candidates += [
        i.columns for i in spec.indexes if i.unique and all(not schema.field(c).nullable for c in i.columns)
    ]
    for columns in candidates:
        if columns and all(_orderable(schema.field(c).type) for c in columns):
            return list(columns)
    return None


def _text(schema: pa.Schema, column: str) -> bool:
    return not pa.types.is_integer(schema.field(column).type)


def ordered(engine: Any, schema: pa.Schema, column: str) -> str:
    """The column as it is ordered and compared: text byte by byte."""
    name = engine.q(column)
    if not _text(schema, column):
        return name
    if engine.name == types.POSTGRESQL:
        return f'{name} COLLATE "C"'
    if engine.name == types.MYSQL:
        return f"BINARY {name}"
    return name


def literal(engine: Any, value: Any) -> str:
    """A key value as SQL text (an integer, or text: hex bytes on MySQL, quoted elsewhere)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        value = str(value)
    if isinstance(value, int):
        return str(value)
    if engine.name == types.MYSQL:
        return f"X'{value.encode().hex()}'"
    return "'" + value.replace("'", "''") + "'"


def _compare(engine: Any, schema: pa.Schema, columns: list[str], values: list[Any], last: str) -> str:
    """``(columns) > values`` in lexicographic order, ``last`` the comparison of the last column
    (``>=`` or ``<``), written out column by column (no row values: every engine reads it)."""
    strict = ">" if last == ">=" else "<"
    column, value = ordered(engine, schema, columns[0]), literal(engine, values[0])
    if len(columns) == 1:
        return f"{column} {last} {value}"
    rest = _compare(engine, schema, columns[1:], values[1:], last)
    return f"({column} {strict} {value} OR ({column} = {value} AND {rest}))"


def where(engine: Any, schema: pa.Schema, bounds: KeyRange) -> str:
    """The WHERE clause of one range (the first also holds rows whose key has a NULL: SQLite
    lets a primary key column hold one)."""
    parts = []
    if bounds.lower is not None:
        parts.append(_compare(engine, schema, bounds.columns, bounds.lower, ">="))
    if bounds.upper is not None:
        upper = _compare(engine, schema, bounds.columns, bounds.upper, "<")
        if bounds.lower is None:
            nulls = " OR ".join(f"{engine.q(c)} IS NULL" for c in bounds.columns)
            upper = f"({upper} OR {nulls})"
        parts.append(upper)
    return " AND ".join(parts) or "1 = 1"


def boundaries(
    engine: Any, connection: Any, table: str, schema: pa.Schema, columns: list[str], size: int
) -> list[list[Any]]:
    """The key of every ``size``-th row in key order after the first range (one sorted pass)."""
    names = ", ".join(engine.q(c) for c in columns)
    order = ", ".join(ordered(engine, schema, c) for c in columns)
    present = " AND ".join(f"{engine.q(c)} IS NOT NULL" for c in columns)
    sql = (
        f"SELECT {names} FROM (SELECT {names}, ROW_NUMBER() OVER (ORDER BY {order}) AS mlmigrate_n "
        f"FROM {engine.q(table)} WHERE {present}) numbered "
        f"WHERE mlmigrate_n > 1 AND (mlmigrate_n - 1) % {size} = 0 ORDER BY mlmigrate_n"
    )
    return [list(row) for row in engine.rows(connection, sql)]
