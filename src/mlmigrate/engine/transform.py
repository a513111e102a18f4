"""Shaping a source unit's batches for its destination (ids, duplicates)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from mlmigrate.stores.base import BatchStream
from mlmigrate.tables import EXPERIMENT, TABLES


def dedupe(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` without exact duplicate rows (SQL metric keys span every column)."""
    table = pa.Table.from_batches([batch])
    unique = table.group_by(table.column_names, use_threads=False).aggregate([])
    if unique.num_rows == table.num_rows:
        return batch
    return unique.select(table.column_names).combine_chunks().to_batches()[0]


def for_destination(
    stream: BatchStream, *, unit_kind: str, dest_id: str, collapsed: Counter[str]
) -> BatchStream:
    """Rewrite experiment ids to ``dest_id`` and collapse exact duplicate metric points.

    ``collapsed`` counts the duplicates removed per table, for the report.
    """
    experiment = int(dest_id) if unit_kind == EXPERIMENT else None
    for table, batch in stream:
        spec = TABLES[table]
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
