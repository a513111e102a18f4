"""Column types between SQLite, DuckDB, PostgreSQL and MySQL/MariaDB, through Arrow.

Every engine's declared type is read as one canonical Arrow type (:func:`canonical`), and
every Arrow type is written as the closest type an engine declares (:func:`declared_for`); a
copy into the engine a column came from keeps its declared type as it was. Values go in the
form an engine stores them (:func:`to_storage`: SQLite keeps dates, timestamps and decimals
as text) and come back to the canonical type (:func:`from_storage`). The mapping, and what
an engine cannot hold, is the table in ``docs/plain-tables.md``.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.stores.sql.tables.spec import DECLARED, ENGINE, LOGICAL, field_note

SQLITE, DUCKDB, POSTGRESQL, MYSQL = "sqlite", "duckdb", "postgresql", "mysql"
JSON = "json"
_DECIMAL = re.compile(r"(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_LENGTH = re.compile(r"CHAR\s*\(\s*(\d+)\s*\)")
UTC = pa.timestamp("us", "UTC")
NAIVE = pa.timestamp("us")


def canonical(engine: str, declared: str) -> tuple[pa.DataType, str | None]:
    """The Arrow type (and logical kind, ``json``) of a column ``engine`` declares ``declared``."""
    text = " ".join(declared.upper().split())
    base = text.split("(", 1)[0].strip()
    if "JSON" in text:
        return pa.string(), JSON
    if base in ("BOOL", "BOOLEAN") or (engine == MYSQL and text.startswith("TINYINT(1)")):
        return pa.bool_(), None
    found = _DECIMAL.search(text)
    if found:
        precision, scale = int(found.group(1)), int(found.group(2) or 0)
        if precision <= 38:
            return pa.decimal128(precision, scale), None
        return pa.string(), None
    if base in ("NUMERIC", "DECIMAL", "HUGEINT", "UHUGEINT"):
        return (pa.decimal128(38, 0), None) if "HUGEINT" in base else (pa.string(), None)
    unsigned = "UNSIGNED" in text
    integers = {
        "TINYINT": pa.int8(), "INT1": pa.int8(), "UTINYINT": pa.uint8(),
        "SMALLINT": pa.int16(), "INT2": pa.int16(), "USMALLINT": pa.uint16(), "SMALLSERIAL": pa.int16(),
        "MEDIUMINT": pa.int32(), "INT": pa.int32(), "INT4": pa.int32(), "UINTEGER": pa.uint32(),
        "SERIAL": pa.int32(), "BIGINT": pa.int64(), "INT8": pa.int64(), "UBIGINT": pa.uint64(),
        "BIGSERIAL": pa.int64(), "LONG": pa.int64(),
    }  # fmt: skip
    word = base.replace(" UNSIGNED", "").split()[0] if base else ""
    if word == "INTEGER":
        return (pa.int64() if engine == SQLITE else pa.uint32() if unsigned else pa.int32()), None
    if word in integers:
        kind = integers[word]
        if unsigned and pa.types.is_signed_integer(kind):
            kind = {8: pa.uint8(), 16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}[kind.bit_width]
        return kind, None
    if engine == SQLITE and "INT" in text:  # SQLite's affinity rule: any INT is a 64-bit integer
        return pa.int64(), None
    if base in ("REAL", "FLOAT4") or (base == "FLOAT" and engine in (DUCKDB, MYSQL)):
        return (pa.float64() if engine == SQLITE else pa.float32()), None
    if base in ("DOUBLE", "DOUBLE PRECISION", "FLOAT8", "FLOAT") or "DOUB" in base or "FLOA" in base:
        return pa.float64(), None
    if base == "DATE":
        return pa.date32(), None
    if "TIMESTAMPTZ" in text or "WITH TIME ZONE" in text:
        return (UTC if base.startswith("TIMESTAMP") else pa.time64("us")), None
    if base.startswith("TIMESTAMP") or base.startswith("DATETIME"):
        return NAIVE, None
    if base.startswith("TIME"):
        return pa.time64("us"), None
    if any(word in base for word in ("BLOB", "BYTEA", "BINARY")):
        return pa.binary(), None
    return pa.string(), None


def field_for(engine: str, name: str, declared: str, nullable: bool) -> pa.Field:
    """The Arrow field of a column, noting its declared type, engine and logical kind."""
    kind, logical = canonical(engine, declared)
    metadata = {DECLARED: declared.encode(), ENGINE: engine.encode()}
    if logical:
        metadata[LOGICAL] = logical.encode()
    return pa.field(name, kind, nullable=nullable, metadata=metadata)


def _length(column: pa.Field) -> int | None:
    declared = field_note(column, DECLARED) or ""
    found = _LENGTH.search(declared.upper())
    return int(found.group(1)) if found else None


def declared_for(engine: str, column: pa.Field, *, keyed: bool = False) -> str:
    """The type ``engine`` declares for ``column`` (its own declared type when it came from the
    same engine). ``keyed``: the column is in a key or index (MySQL's need a length)."""
    if field_note(column, ENGINE) == engine and field_note(column, DECLARED):
        return str(field_note(column, DECLARED))
    kind, logical = column.type, field_note(column, LOGICAL)
    if logical == JSON:
        return {SQLITE: "JSON TEXT", DUCKDB: "JSON", POSTGRESQL: "JSON", MYSQL: "JSON"}[engine]
    if pa.types.is_boolean(kind):
        return "TINYINT(1)" if engine == MYSQL else "BOOLEAN"
    if pa.types.is_integer(kind):
        return _integer(engine, kind)
    if pa.types.is_floating(kind):
        if engine == SQLITE:
            return "REAL"
        if kind.bit_width == 32:
            return {DUCKDB: "FLOAT", POSTGRESQL: "REAL", MYSQL: "FLOAT"}[engine]
        return "DOUBLE PRECISION" if engine == POSTGRESQL else "DOUBLE"
    if pa.types.is_decimal(kind):
        return (
            f"TEXT DECIMAL({kind.precision},{kind.scale})"
            if engine == SQLITE
            else (f"DECIMAL({kind.precision},{kind.scale})")
        )
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        if engine == MYSQL:
            return "DATETIME(6)"
        if kind.tz is not None:
            return "TIMESTAMPTZ"
        return "TIMESTAMP"
    if pa.types.is_time(kind):
        return "TIME(6)" if engine == MYSQL else "TIME"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        if engine == MYSQL:
            return f"VARBINARY({_length(column) or 255})" if keyed else "LONGBLOB"
        return {SQLITE: "BLOB", DUCKDB: "BLOB", POSTGRESQL: "BYTEA"}[engine]
    if engine == MYSQL:
        length = _length(column)
        return f"VARCHAR({length or 255})" if keyed or length else "LONGTEXT"
    if engine == SQLITE:
        return "TEXT"
    length = _length(column)
    return f"VARCHAR({length})" if length else ("VARCHAR" if engine == DUCKDB else "TEXT")


def _integer(engine: str, kind: pa.DataType) -> str:
    width, signed = kind.bit_width, pa.types.is_signed_integer(kind)
    if engine == SQLITE:
        return {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "INTEGER"}[width] if signed else "INTEGER"
    if engine == DUCKDB:
        names = {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}
        return names[width] if signed else "U" + names[width]
    if engine == MYSQL:
        names = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}
        return names[width] + ("" if signed else " UNSIGNED")
    if signed:
        return {8: "SMALLINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}[width]
    return {8: "SMALLINT", 16: "INTEGER", 32: "BIGINT", 64: "NUMERIC(20,0)"}[width]


def storage_type(engine: str, kind: pa.DataType) -> pa.DataType:
    """How an engine's driver moves values of canonical type ``kind``."""
    if engine == SQLITE:
        if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
            return pa.int64()
        if pa.types.is_floating(kind):
            return pa.float64()
        if pa.types.is_binary(kind):
            return pa.binary()
        return pa.string()
    if engine == MYSQL and pa.types.is_timestamp(kind) and kind.tz is not None:
        return NAIVE
    if engine == POSTGRESQL and pa.types.is_unsigned_integer(kind) and kind.bit_width == 64:
        return pa.decimal128(20, 0)
    if engine == POSTGRESQL and pa.types.is_timestamp(kind) and kind.tz is not None:
        return NAIVE  # read as UTC wall time: the CSV parser takes no "+00" offsets
    return kind


def storage_schema(engine: str, schema: pa.Schema) -> pa.Schema:
    """The schema of ``schema``'s rows as ``engine``'s driver moves them."""
    return pa.schema([pa.field(f.name, storage_type(engine, f.type)) for f in schema])


def _cast(column: pa.Array | pa.ChunkedArray, source: pa.DataType, target: pa.DataType) -> pa.Array:
    if source == target:
        return column
    if pa.types.is_timestamp(source) and pa.types.is_string(target):
        text = pc.strftime(column, format="%Y-%m-%d %H:%M:%S" if source.tz is None else "%Y-%m-%d %H:%M:%S%z")
        if source.tz is not None:  # +0000 -> +00:00, as Python's isoformat writes it
            text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
        return text
    if pa.types.is_boolean(target) and pa.types.is_integer(source):
        return pc.not_equal(column, 0)
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(source) and source.tz != target.tz:
        if source.tz is None:
            return column.cast(NAIVE).cast(target) if target.tz else column
        return column.cast(pa.timestamp("us", "UTC")).cast(pa.int64()).cast(target)
    return column.cast(target)


def to_storage(engine: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` as ``engine``'s driver takes it."""
    arrays = [
        _cast(batch.column(i), f.type, storage_type(engine, f.type)) for i, f in enumerate(batch.schema)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=storage_schema(engine, batch.schema))


def from_storage(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows read in the driver's types, as ``schema`` (the canonical types) has them."""
    arrays = [_cast(table.column(i), table.schema.field(i).type, f.type) for i, f in enumerate(schema)]
    return pa.Table.from_arrays(arrays, schema=schema)
