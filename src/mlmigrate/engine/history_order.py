"""Digests of the order of metric histories, for stores where that order is data.

MLflow's FileStore returns a history (``get_metric_history``, a logged model's metrics) in its
file's line order, and picks the latest of tied points by it; a SQL store orders by value
columns and keeps none. Between two stores that both keep the order
(``Capabilities.ordered_histories``), ``verify`` also compares, per history, each point's
place in it: rows ``(owner, key, place, row hash)`` digested under ``"<table> (file order)"``,
so a reordered history differs though its rows are the same multiset.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.digest import row_hashes

#: the history tables and the columns naming one history in them
HISTORIES: Mapping[str, tuple[str, str]] = {
    "metrics": ("run_uuid", "key"),
    "logged_model_metrics": ("model_id", "metric_name"),
}
SUFFIX = " (file order)"


def is_order_table(name: str) -> bool:
    """Whether ``name`` is the order digest of a history table (not a table of the store)."""
    return name.endswith(SUFFIX)


class HistoryOrder:
    """Turns a unit's history batches, in stream order, into rows that name each point's place
    in its history (histories may continue across batches)."""

    def __init__(self) -> None:
        self._lengths: dict[tuple[str, str, str], int] = {}

    def places(self, table: str, batch: pa.RecordBatch) -> tuple[str, pa.RecordBatch] | None:
        """``(order table, rows)`` for a batch of a history table, None for another table."""
        if table not in HISTORIES or batch.num_rows == 0:
            return None
        owner_column, key_column = HISTORIES[table]
        owner = pc.fill_null(batch.column(owner_column), "")
        key = pc.fill_null(batch.column(key_column), "")
        rows = pa.table({"owner": owner, "key": key, "row": np.arange(batch.num_rows, dtype=np.int64)})
        ordered = rows.sort_by([("owner", "ascending"), ("key", "ascending"), ("row", "ascending")])
        sorted_owner = ordered.column("owner").combine_chunks()
        sorted_key = ordered.column("key").combine_chunks()
        differs = pc.or_(
            pc.not_equal(sorted_owner[1:], sorted_owner[:-1]), pc.not_equal(sorted_key[1:], sorted_key[:-1])
        )
        starts = np.flatnonzero(np.concatenate([[True], differs.to_numpy(zero_copy_only=False)]))
        sizes = np.diff(np.append(starts, batch.num_rows))
        # the place of each point: its rank in the batch's part of the history, after the
        # points earlier batches gave it (a Python step per history, not per point)
        before = np.empty(len(starts), dtype=np.int64)
        for index, (group_owner, group_key) in enumerate(
            zip(sorted_owner.take(starts).to_pylist(), sorted_key.take(starts).to_pylist(), strict=True)
        ):
            name = (table, group_owner, group_key)
            before[index] = self._lengths.get(name, 0)
            self._lengths[name] = int(before[index] + sizes[index])
        rank = np.arange(batch.num_rows, dtype=np.int64) - np.repeat(starts, sizes) + np.repeat(before, sizes)
        place = np.empty(batch.num_rows, dtype=np.int64)
        place[ordered.column("row").to_numpy()] = rank
        return table + SUFFIX, pa.record_batch(
            {
                "owner": owner,
                "key": key,
                "place": pa.array(place),
                "row": pa.array(row_hashes(batch), pa.uint64()),
            }
        )
