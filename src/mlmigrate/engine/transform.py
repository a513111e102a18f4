"""Shaping a source unit's batches for its destination (ids, duplicates)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.stores.base import BatchStream
from mlmigrate.tables import EXPERIMENT, TABLES

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


def for_destination(
    stream: BatchStream,
    *,
    unit_kind: str,
    dest_id: str,
    collapsed: Counter[str],
    made_finite: Counter[str] | None = None,
) -> BatchStream:
    """Rewrite experiment ids to ``dest_id`` and collapse exact duplicate metric points.

    ``collapsed`` counts the duplicates removed per table, for the report. With
    ``made_finite`` (a destination without ±inf), non-finite floats are mapped by
    :func:`finite` and counted there per table.
    """
    experiment = int(dest_id) if unit_kind == EXPERIMENT else None
    for table, batch in stream:
        spec = TABLES[table]
        if experiment is not None and spec.experiment_columns:
            constant = pa.repeat(pa.scalar(experiment, pa.int64()), batch.num_rows)
            for column in spec.experiment_columns:
                index = batch.schema.get_field_index(column)
                batch = batch.set_column(index, column, constant)
        if made_finite is not None:
            batch, changed = finite(batch)
            if changed:
                made_finite[table] += changed
        if table == "metrics":
            before = batch.num_rows
            batch = dedupe(batch)
            if batch.num_rows != before:
                collapsed[table] += before - batch.num_rows
        yield table, batch
