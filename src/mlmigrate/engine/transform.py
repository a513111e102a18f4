"""Shaping a source unit's batches for its destination (ids, duplicates)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.stores.base import BatchStream
from mlmigrate.tables import EXPERIMENT, TABLES

#: (table, type column, id column): text references to an experiment outside the canonical tables
EXPERIMENT_REFERENCES = (
    ("entity_associations", "source_type", "source_id"),
    ("entity_associations", "destination_type", "destination_id"),
)

#: what MLflow stores for ±inf where a database cannot hold it (``sanitize_metric_value``)
MAX_FLOAT = 1.7976931348623157e308


def dedupe(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` without rows a SQL key spanning every column holds only once.

    Databases compare floats by value, so -0.0 and 0.0 are the same point there; the
    first of such rows is kept.
    """
    table = pa.Table.from_batches([batch])
    columns = table.column_names
    if "value" in columns:  # -0.0 + 0.0 == +0.0: one key for both zeros
        table = table.append_column("_same_value", pc.add(table.column("value"), 0.0))
    keys = [name for name in table.column_names if name != "value"]
    unique = table.group_by(keys, use_threads=False).aggregate([("value", "first")])
    if unique.num_rows == batch.num_rows:
        return batch
    unique = unique.rename_columns([("value" if n == "value_first" else n) for n in unique.column_names])
    return unique.select(columns).combine_chunks().to_batches()[0]


def finite(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, int]:
    """``batch`` with ±inf as ±max float and NaN as NULL in every float column; and how many
    values were changed."""
    changed = 0
    for index, field in enumerate(batch.schema):
        if not pa.types.is_floating(field.type):
            continue
        column = batch.column(index)
        infinite = pc.is_inf(column)
        nan = pc.is_nan(column)
        count = pc.sum(pc.or_(infinite, nan)).as_py() or 0
        if not count:
            continue
        changed += count
        limit = pc.if_else(pc.greater(column, 0.0), MAX_FLOAT, -MAX_FLOAT)
        column = pc.if_else(infinite, limit, column)
        column = pc.if_else(nan, pa.scalar(None, field.type), column)
        batch = batch.set_column(index, field.name, column)
    return batch, changed


def _mapped(column: pa.Array, id_map: Mapping[str, str]) -> pa.Array:
    """``column`` (experiment ids, as numbers or text) with each id in ``id_map`` replaced."""
    text = column.cast(pa.string())
    found = pc.index_in(text, value_set=pa.array(list(id_map), pa.string()))
    replaced = pc.take(pa.array(list(id_map.values()), pa.string()), found)
    return pc.coalesce(replaced, text).cast(column.type)


def remap_experiments(table: str, batch: pa.RecordBatch, id_map: Mapping[str, str]) -> pa.RecordBatch:
    """A global table's batch with its experiment references rewritten by ``id_map``."""
    if not id_map or batch.num_rows == 0:
        return batch
    index = batch.schema.get_field_index("experiment_id")
    if index >= 0:
        batch = batch.set_column(index, "experiment_id", _mapped(batch.column(index), id_map))
    for name, kind_column, id_column in EXPERIMENT_REFERENCES:
        if name != table:
            continue
        position = batch.schema.get_field_index(id_column)
        ids = batch.column(position)
        is_experiment = pc.fill_null(pc.equal(batch.column(kind_column), "experiment"), False)
        batch = batch.set_column(position, id_column, pc.if_else(is_experiment, _mapped(ids, id_map), ids))
    return batch


def for_destination(
    stream: BatchStream,
    *,
    unit_kind: str,
    dest_id: str,
    collapsed: Counter[str],
    made_finite: Counter[str] | None = None,
    experiment_ids: Mapping[str, str] | None = None,
) -> BatchStream:
    """Rewrite experiment ids to ``dest_id`` and collapse exact duplicate metric points.

    ``collapsed`` counts the duplicates removed per table, for the report. With
    ``made_finite`` (a destination without ±inf), non-finite floats are mapped by
    :func:`finite` and counted there per table. Tables outside the canonical model
    (the global unit) get their experiment references rewritten by ``experiment_ids``.
    """
    experiment = int(dest_id) if unit_kind == EXPERIMENT else None
    for table, batch in stream:
        if made_finite is not None:
            batch, changed = finite(batch)
            if changed:
                made_finite[table] += changed
        spec = TABLES.get(table)
        if spec is None:
            yield table, remap_experiments(table, batch, experiment_ids or {})
            continue
        if experiment is not None and spec.experiment_columns:
            constant = pa.repeat(pa.scalar(experiment, pa.int64()), batch.num_rows)
            for column in spec.experiment_columns:
                index = batch.schema.get_field_index(column)
                batch = batch.set_column(index, column, constant)
        if table == "metrics":
            before = batch.num_rows
            batch = dedupe(batch)
            if batch.num_rows != before:
                collapsed[table] += before - batch.num_rows
        yield table, batch
