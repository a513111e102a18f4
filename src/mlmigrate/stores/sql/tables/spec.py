"""A table's definition as it travels with its rows: in the Arrow schema's metadata.

Columns are the schema's fields (type, nullability, and in field metadata the engine's own
declared type and logical kind such as ``json``); keys, unique constraints, indexes and
foreign keys are one JSON document under :data:`TABLE_KEY`. A destination creates the table
from the first batch it is given, so no side channel is needed between the two stores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

TABLE_KEY = b"mlmigrate.table"
#: field metadata: the source engine's declared type (``VARCHAR(100)``) and its engine
DECLARED, ENGINE, LOGICAL = b"mlmigrate.declared", b"mlmigrate.engine", b"mlmigrate.logical"


@dataclass
class Index:
    """One index: its name, columns and whether it is unique."""

    name: str
    columns: list[str]
    unique: bool = False


@dataclass
class ForeignKey:
    """Columns of this table that reference columns of another."""

    columns: list[str]
    table: str
    references: list[str]


@dataclass
class TableSpec:
    """A table: its name, keys, constraints and indexes (its columns are the schema's fields)."""

    name: str
    primary_key: list[str] = field(default_factory=list)
    uniques: list[list[str]] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def as_json(self) -> str:
        """The spec as JSON text."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TableSpec:
        """The inverse of :meth:`as_json`."""
        data: dict[str, Any] = json.loads(text)
        return cls(
            name=data["name"],
            primary_key=list(data.get("primary_key", [])),
            uniques=[list(u) for u in data.get("uniques", [])],
            indexes=[Index(**i) for i in data.get("indexes", [])],
            foreign_keys=[ForeignKey(**f) for f in data.get("foreign_keys", [])],
        )

    def parents(self) -> set[str]:
        """The other tables this one references."""
        return {fk.table for fk in self.foreign_keys if fk.table != self.name}


def attach(schema: pa.Schema, spec: TableSpec) -> pa.Schema:
    """``schema`` carrying ``spec``."""
    return schema.with_metadata({**(schema.metadata or {}), TABLE_KEY: spec.as_json().encode()})


def spec_of(schema: pa.Schema) -> TableSpec | None:
    """The spec a schema carries, if any."""
    text = (schema.metadata or {}).get(TABLE_KEY)
    return TableSpec.from_json(text) if text else None


def field_note(column: pa.Field, key: bytes) -> str | None:
    """A field's metadata entry as text."""
    value = (column.metadata or {}).get(key)
    return value.decode() if value is not None else None


def in_dependency_order(specs: list[TableSpec]) -> list[TableSpec]:
    """Parents before the tables that reference them (names in order otherwise; a cycle keeps
    its tables in name order)."""
    by_name = {spec.name: spec for spec in specs}
    done: list[TableSpec] = []
    seen: set[str] = set()

    def visit(spec: TableSpec, path: set[str]) -> None:
        if spec.name in seen:
            return
        for parent in sorted(spec.parents()):
            if parent in by_name and parent not in path:
                visit(by_name[parent], path | {spec.name})
        seen.add(spec.name)
        done.append(spec)

    for spec in sorted(specs, key=lambda s: s.name):
        visit(spec, {spec.name})
    return done
