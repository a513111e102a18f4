"""Shaping a source unit's batches for its destination (ids, duplicates)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.artifacts.rewrite import UriRewrite, references
from mlmigrate.stores.base import BatchStream
from mlmigrate.tables import EXPERIMENT, TABLES


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


def for_destination(
    stream: BatchStream,
    *,
    unit_kind: str,
    dest_id: str,
    collapsed: Counter[str],
    rewrite: UriRewrite | None = None,
    artifacts: list[tuple[str, str]] | None = None,
) -> BatchStream:
    """Rewrite experiment ids to ``dest_id``, artifact URIs by ``rewrite``, and collapse exact
    duplicate metric points.

    ``collapsed`` counts the duplicates removed per table, for the report; ``artifacts``
    (when given) collects the ``(kind, uri)`` artifact locations the source rows reference.
    """
    experiment = int(dest_id) if unit_kind == EXPERIMENT else None
    for table, batch in stream:
        spec = TABLES[table]
        if artifacts is not None:
            artifacts += references(table, batch)
        if rewrite:
            batch = rewrite.batch(table, batch)
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
