"""Naming what differs in a table whose digests disagree: the runs, keys and steps of the rows
found on one side only, found by comparing row hashes (vectorised, no Python loop per row)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.digest import row_hashes
from mlmigrate.tables import TABLES

#: differing places named per table; the rest are counted
SHOWN = 10
_HASH, _SOURCE, _DESTINATION = "__row_hash", "__source_rows", "__destination_rows"


def locator(table: str, schema: pa.Schema) -> list[str]:
    """The columns that name a row's place (``run_uuid``, ``key``, ``step`` …): the table's
    natural key without its float and boolean columns (a changed value is then one place)."""
    spec = TABLES.get(table)
    key = spec.key if spec is not None else tuple(schema.names[:1])
    return [
        name
        for name in key
        if name in schema.names
        and not (
            pa.types.is_floating(schema.field(name).type) or pa.types.is_boolean(schema.field(name).type)
        )
    ]


def _counted(rows: pa.Table, place: list[str], name: str) -> pa.Table:
    hashed = rows.select(place).append_column(_HASH, pa.array(row_hashes(rows), pa.uint64()))
    return (
        hashed.group_by([*place, _HASH]).aggregate([([], "count_all")]).rename_columns([*place, _HASH, name])
    )


def differing_places(table: str, source: pa.Table, destination: pa.Table) -> dict[str, Any]:
    """Where ``source`` and ``destination`` (one table's rows of one unit, same columns) differ:
    ``{"places": [{column: value, …, "problem": …}], "more": N}``, a place being a locator
    value whose rows are not the same multiset on both sides."""
    columns = [name for name in source.column_names if name in destination.column_names]
    source, destination = (
        source.select(columns),
        destination.select(columns).cast(source.select(columns).schema),
    )
    place = locator(table, source.schema)
    left, right = _counted(source, place, _SOURCE), _counted(destination, place, _DESTINATION)
    joined = left.join(right, keys=[*place, _HASH], join_type="full outer")
    mine = pc.fill_null(joined[_SOURCE], 0)
    theirs = pc.fill_null(joined[_DESTINATION], 0)
    differing = joined.filter(pc.not_equal(mine, theirs))
    mine, theirs = pc.fill_null(differing[_SOURCE], 0), pc.fill_null(differing[_DESTINATION], 0)
    differing = (
        differing.append_column("__in_source", pc.greater(mine, 0))
        .append_column("__in_destination", pc.greater(theirs, 0))
        .append_column("__counted_apart", pc.and_(pc.greater(mine, 0), pc.greater(theirs, 0)))
    )
    if not place:
        return {"places": [], "more": 0, "rows": differing.num_rows}
    per_place = (
        differing.group_by(place)
        .aggregate([("__in_source", "any"), ("__in_destination", "any"), ("__counted_apart", "any")])
        .sort_by([(name, "ascending") for name in place])
    )  # group_by's order is not stable
    shown = per_place.slice(0, SHOWN).to_pylist()
    return {"places": [_described(row, place) for row in shown], "more": max(per_place.num_rows - SHOWN, 0)}


def _described(row: dict[str, Any], place: list[str]) -> dict[str, Any]:
    in_source, in_destination = row["__in_source_any"], row["__in_destination_any"]
    if row["__counted_apart_any"]:  # one row, held a different number of times on each side
        problem = "a row held a different number of times"
    elif in_source and in_destination:
        problem = "values differ"
    else:
        problem = "missing in the destination" if in_source else "only in the destination"
    return {**{name: row[name] for name in place}, "problem": problem}


def describe(places: Iterable[dict[str, Any]]) -> str:
    """One line per place: ``run_uuid=… key='loss' step=3: values differ``."""
    return "; ".join(
        " ".join(f"{name}={value!r}" for name, value in place.items() if name != "problem")
        + f": {place['problem']}"
        for place in places
    )


def collect(stream: Iterable[tuple[str, pa.RecordBatch]], tables: set[str]) -> dict[str, pa.Table]:
    """The rows of ``tables`` in a unit's stream, one Arrow table each."""
    batches: dict[str, list[pa.RecordBatch]] = {}
    for table, batch in stream:
        if table in tables:
            batches.setdefault(table, []).append(batch)
    return {table: pa.Table.from_batches(found) for table, found in batches.items()}
