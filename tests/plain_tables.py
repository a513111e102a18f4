"""A typed plain SQLite database for the tables family's tests, written with the stdlib."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa

from mlmigrate.digest import Digest

#: every kind of column the type mapping covers, with NULLs and non-finite floats
SCHEMA = """
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE typed(
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent(id),
    small SMALLINT, tiny TINYINT, wide BIGINT NOT NULL,
    ratio REAL, flag BOOLEAN, day DATE, at TIMESTAMP, at_utc TIMESTAMPTZ,
    price TEXT DECIMAL(12,3), doc JSON TEXT, label VARCHAR(40), raw BLOB
);
CREATE INDEX ix_typed_label ON typed(label);
CREATE UNIQUE INDEX ux_typed_small_tiny ON typed(small, tiny);
CREATE TABLE train(passenger INTEGER, name TEXT, fare REAL);
"""

TYPED_ROWS = [
    (1, 1, -32768, -128, -(2**63), 0.5, 1, "2020-01-02", "2020-01-02 03:04:05.000006",
     "2020-01-02 03:04:05.000006+00:00", "12345.678", '{"a": [1, true]}', "zoë", b"\x00\xff"),
    (2, None, 32767, 127, 2**63 - 1, float("inf"), 0, "1999-12-31", "1999-12-31 23:59:59.000000",
     "1999-12-31 23:59:59.000000+00:00", "-0.001", "[]", "", b""),
    (3, 2, 0, 0, 0, float("-inf"), None, None, None, None, None, None, None, None),
]  # fmt: skip


def make_database(path: Path, *, train_rows: int = 2500) -> Path:
    """A SQLite file with a parent table, a typed child table and a keyless ``train`` table."""
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    connection.executemany("INSERT INTO parent VALUES (?, ?)", [(1, "a"), (2, "b")])
    connection.executemany(f"INSERT INTO typed VALUES ({', '.join('?' * 14)})", TYPED_ROWS)
    connection.executemany(
        "INSERT INTO train VALUES (?, ?, ?)",
        [(i, f"name {i}" if i % 3 else None, i / 7) for i in range(train_rows)],
    )
    connection.commit()
    connection.close()
    return path


def digests(uri: str) -> dict[str, tuple[int, str]]:
    """Rows and digest of every table, read by mlmigrate's store (canonical types)."""
    from mlmigrate.stores import open_store

    store = open_store(uri)
    try:
        found: dict[str, Digest] = {}
        for unit in store.units():
            for table, batch in store.read_unit(unit):
                found.setdefault(table, Digest()).add(batch)
        return {table: (d.rows, d.hex) for table, d in sorted(found.items())}
    finally:
        store.close()


def schemas(uri: str) -> dict[str, pa.Schema]:
    """Every table's canonical schema and definition, as mlmigrate reads it."""
    from mlmigrate.stores import open_store

    store = open_store(uri)
    try:
        return {name: store.schema(name) for name in store.tables()}  # type: ignore[attr-defined]
    finally:
        store.close()
