"""The plain tables of one database as units: a table, or a row range of a big one.

A unit is written in one transaction. The first unit of a table (the whole table, or its first
range) drops and creates it from the definition its rows carry (:mod:`.spec`), so a unit
written again replaces itself; a later range first counts the rows the table holds: the ranges
before it are there (ranges are written in order), or it is there already (committed before
the journal knew), or its turn has not come (a transient error: retried). A table with a key of
integer or text columns (one or several) is split by its key's values instead (:mod:`.ranges`):
such a range deletes the rows of its key range and writes them again, whatever was written
before. So a crash inside a big table resumes at the range it was writing, with nothing doubled.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from mlmigrate.exceptions import TransientStoreError, UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.sql.errors import SqlErrors
from mlmigrate.stores.sql.tables import types
from mlmigrate.stores.sql.tables.engines import TableEngine, engine_for
from mlmigrate.stores.sql.tables.ranges import KeyRange, boundaries, split_key, where
from mlmigrate.stores.sql.tables.spec import TableSpec, attach, in_dependency_order, spec_of
from mlmigrate.uris import mask

#: the unit kind of a table (``mlmigrate.engine.families.TABLE``)
TABLE = "table"
#: rows per range of a big table (``MLMIGRATE_RANGE_ROWS``); each range is a unit
RANGE_ROWS = 500_000
#: rows per batch handed on within a unit
BATCH_ROWS = 65_536

_TITLES = {
    types.SQLITE: "a SQLite database",
    types.DUCKDB: "a DuckDB database",
    types.POSTGRESQL: "a PostgreSQL database",
    types.MYSQL: "a MySQL / MariaDB database",
}


@dataclass(frozen=True)
class Part:
    """Which rows of which table a unit is: ``train`` (all), ``train#2/500000`` (the third range
    by row order: a table without a key to split by) or ``train#2/500000@…`` (the third range of
    its key's values, :class:`~.ranges.KeyRange`)."""

    table: str
    index: int = 0
    size: int = 0
    bounds: KeyRange | None = None

    @classmethod
    def of(cls, unit: Unit) -> Part:
        """The part ``unit`` names."""
        name, _, rest = unit.source_id.rpartition("#")
        if not name or "/" not in rest:
            return cls(unit.source_id)
        index, size = rest.split("/", 1)
        size, _, encoded = size.partition("@")
        return cls(name, int(index), int(size), KeyRange.decode(encoded) if encoded else None)

    def source_id(self) -> str:
        """The unit id of this part."""
        if not self.size:
            return self.table
        return f"{self.table}#{self.index}/{self.size}" + (f"@{self.bounds.encode()}" if self.bounds else "")

    @property
    def first(self) -> bool:
        """Whether this part creates the table."""
        return self.index == 0


def range_rows() -> int:
    """Rows per range: ``MLMIGRATE_RANGE_ROWS`` or :data:`RANGE_ROWS`."""
    return max(1, int(os.environ.get("MLMIGRATE_RANGE_ROWS") or RANGE_ROWS))


def _owned_elsewhere(name: str) -> bool:
    """A table another family keeps (a registry's ``mr_*``): left to that family's kind."""
    from mlmigrate.stores.kinds import KINDS

    return any(k.family != "tables" and k.owns_table is not None and k.owns_table(name) for k in KINDS)


class TablesStore(StoreBase):
    """Every table of a SQLite, DuckDB, PostgreSQL or MySQL/MariaDB database, as it is."""

    def __init__(self, uri: str):
        self.uri = uri
        self.engine: TableEngine = engine_for(uri)
        self._errors = SqlErrors(mask(uri))
        engine = self.engine.name
        self.capabilities = Capabilities(
            family="tables",
            writers=1,
            merge=False,
            holds_infinity=engine != types.MYSQL,
            shared_reads=engine != types.DUCKDB,
            kind=f"{_TITLES[engine]} (plain tables)",
        )
        self._schemas: dict[str, pa.Schema] = {}

    def tables(self) -> list[str]:
        """The tables this store copies (not those another family keeps)."""
        with self._errors.around("listing tables"):
            return [name for name in self.engine.table_names() if not _owned_elsewhere(name)]

    def schema(self, table: str) -> pa.Schema:
        """A table's columns and definition."""
        if table not in self._schemas:
            with self._errors.around(f"describing table {table}"):
                self._schemas[table] = self.engine.describe(table)
        return self._schemas[table]

    def _order_key(self, schema: pa.Schema) -> str | None:
        """The order of a table without a key to split by: the engine's row id."""
        return self.engine.rowid

    def _splits_by_row_order(self) -> bool:
        """Whether a table without a key can be split by its row ids (SQLite's, DuckDB's)."""
        return self.engine.name in (types.SQLITE, types.DUCKDB)

    def count(self, table: str) -> int:
        """Rows of ``table``."""
        with self._errors.around(f"counting {table}"), self._reading() as connection:
            return int(self.engine.scalar(connection, f"SELECT COUNT(*) FROM {self.engine.q(table)}"))

    def _reading(self):  # type: ignore[no-untyped-def]
        reading = getattr(self.engine, "reading", None)
        return reading() if reading is not None else self.engine.transaction()

    def units(self) -> list[Unit]:
        """Each table, parents before the tables that reference them; a table of more rows than
        a range holds (and an order to split it by) as one unit per range."""
        specs = []
        for name in self.tables():
            spec = spec_of(self.schema(name))
            specs.append(spec or TableSpec(name))
        size = range_rows()
        units = []
        for spec in in_dependency_order(specs):
            rows = self.count(spec.name)
            schema = self.schema(spec.name)
            key = split_key(schema)
            if rows <= size or (key is None and not self._splits_by_row_order()):
                units.append(Unit(TABLE, spec.name, spec.name))
                continue
            parts = (
                self._key_ranges(spec.name, schema, key, size)
                if key is not None
                else [Part(spec.name, i, size) for i in range(math.ceil(rows / size))]
            )
            for part in parts:
                last = min((part.index + 1) * size, rows)
                label = f"{spec.name} rows {part.index * size + 1:,}-{last:,}"
                units.append(Unit(TABLE, part.source_id(), label))
        return units

    def _key_ranges(self, table: str, schema: pa.Schema, key: list[str], size: int) -> list[Part]:
        """The table's ranges of ``size`` rows by its key's values (see :mod:`.ranges`)."""
        with self._errors.around(f"splitting {table} by {', '.join(key)}"), self._reading() as connection:
            cuts = boundaries(self.engine, connection, table, schema, key, size)
        edges: list[list[object] | None] = [None, *cuts, None]
        return [
            Part(table, index, size, KeyRange(key, edges[index], edges[index + 1]))
            for index in range(len(edges) - 1)
        ]

    def is_empty(self) -> bool:
        """Whether the database holds no table."""
        return not self.tables()

    def read_unit(self, unit: Unit) -> BatchStream:
        """The unit's rows as Arrow batches of the table's canonical types, carrying its definition."""
        part = Part.of(unit)
        if part.table not in self.tables():
            return
        schema = self.schema(part.table)
        engine = self.engine
        sql = f"SELECT {engine.select_list(schema)} FROM {engine.q(part.table)}"
        if part.bounds is not None:
            sql += f" WHERE {where(engine, schema, part.bounds)}"
        elif part.size:
            key = self._order_key(schema)
            order = f" ORDER BY {key}" if key else ""
            sql += f"{order} LIMIT {part.size} OFFSET {part.index * part.size}"
        with self._errors.around(f"reading {unit.label or part.table}"), self._reading() as connection:
            stored = engine.fetch(connection, sql, types.storage_schema(engine.name, schema))
        table = types.from_storage(stored, schema.remove_metadata()).replace_schema_metadata(schema.metadata)
        table = pa.Table.from_arrays(table.columns, schema=schema)
        # drivers hand small chunks (ADBC: 1,024 rows): each batch costs a COPY, a digest and a
        # queue hop downstream, so they go on in batches of BATCH_ROWS
        batches = table.combine_chunks().to_batches(max_chunksize=BATCH_ROWS)
        if not batches:
            yield part.table, pa.RecordBatch.from_pylist([], schema=schema)
        for batch in batches:
            yield part.table, batch

    def reads_back_alone(self, unit: Unit) -> bool:
        """A whole table or a range of its key's values, on an engine whose reads may go beside
        a write in this process: not SQLite's (its file locks are the process's, so a second
        connection would read pages the writing one has not committed), not a range by offset."""
        part = Part.of(unit)
        return self.engine.name != types.SQLITE and (not part.size or part.bounds is not None)

    def prepare(self) -> None:
        """Nothing to create up front: each table is created by its first unit."""

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """The tables already there, as the units that would write them."""
        return ExistingObjects(units={f"{TABLE}:{name}" for name in self.tables()})

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Write one table or range in one transaction (see the module's docstring)."""
        if into_existing:
            raise UsageError(f"{self.capabilities.kind} cannot merge into a table")
        part = Part.of(unit)
        engine = self.engine
        rows = 0
        with self._errors.around(f"writing {unit.label or part.table}"), engine.transaction() as connection:
            held = None
            if not part.first and part.bounds is not None:
                # a range of key values replaces its own rows: written again, it doubles nothing
                if part.table not in engine.table_names():
                    raise TransientStoreError(
                        f"{part.table}: range {part.index + 1} waits for its first range"
                    )
                where_sql = where(engine, self.schema(part.table), part.bounds)
                engine.run(connection, f"DELETE FROM {engine.q(part.table)} WHERE {where_sql}")
            elif not part.first:
                held = int(engine.scalar(connection, f"SELECT COUNT(*) FROM {engine.q(part.table)}"))
                start = part.index * part.size
                if held < start:
                    raise TransientStoreError(
                        f"{part.table}: range {part.index + 1} waits for the ranges before it "
                        f"({held:,} of {start:,} rows written)"
                    )
            created = False
            for _, batch in batches:
                if part.first and not created:
                    self._create(connection, part.table, batch.schema)
                    created = True
                rows += batch.num_rows
                if held is None or held == part.index * part.size:  # a row-order range: once
                    engine.insert(connection, part.table, types.to_storage(engine.name, batch))
        self._schemas.pop(part.table, None)
        return {part.table: rows}

    def _create(self, connection: object, table: str, schema: pa.Schema) -> None:
        engine = self.engine
        spec = spec_of(schema) or TableSpec(table)
        keyed = set(spec.primary_key) | {c for u in spec.uniques for c in u}
        keyed |= {c for i in spec.indexes for c in i.columns} | {
            c for f in spec.foreign_keys for c in f.columns
        }
        lines = [
            f"{engine.q(f.name)} {types.declared_for(engine.name, f, keyed=f.name in keyed)}"
            + ("" if f.nullable else " NOT NULL")
            for f in schema
        ]
        if spec.primary_key:
            lines.append(f"PRIMARY KEY ({', '.join(engine.q(c) for c in spec.primary_key)})")
        for unique in spec.uniques:
            lines.append(f"UNIQUE ({', '.join(engine.q(c) for c in unique)})")
        present = set(engine.table_names()) | {table}
        for foreign in spec.foreign_keys:
            if foreign.table in present:
                lines.append(
                    f"FOREIGN KEY ({', '.join(engine.q(c) for c in foreign.columns)}) REFERENCES "
                    f"{engine.q(foreign.table)} ({', '.join(engine.q(c) for c in foreign.references)})"
                )
        engine.run(connection, f"DROP TABLE IF EXISTS {engine.q(table)}")
        engine.run(connection, f"CREATE TABLE {engine.q(table)} ({', '.join(lines)})")
        for index in spec.indexes:
            names = ", ".join(engine.q(c) for c in index.columns)
            prefix = "UNIQUE " if index.unique else ""
            engine.run(
                connection, f"CREATE {prefix}INDEX {engine.q(index.name)} ON {engine.q(table)} ({names})"
            )

    def delete_unit(self, unit: Unit) -> None:
        """Drop the table its first unit created (later ranges go with it)."""
        part = Part.of(unit)
        if not part.first:
            return
        with self._errors.around(f"dropping {part.table}"), self.engine.transaction() as connection:
            self.engine.run(connection, f"DROP TABLE IF EXISTS {self.engine.q(part.table)}")
        self._schemas.pop(part.table, None)

    def close(self) -> None:
        """Release connections."""
        self.engine.close()


__all__ = ["TablesStore", "attach"]
