"""Writing a unit *into* an experiment or registered model the database already holds.

Under ``--on-conflict merge`` the destination experiment keeps its other runs, so a
unit cannot be made idempotent by clearing everything of the experiment first.
Instead each batch clears exactly the objects it brings, in the same transaction,
before they are inserted: the runs of a ``runs`` batch (with their params, tags,
metrics, inputs), the logged models of a ``logged_models`` batch, the traces of a
``trace_info`` batch, the versions of a ``model_versions`` batch. Children always
follow their parents in a unit's stream, so they are inserted after the clearing.
A rewrite after a crash therefore replaces what the unit wrote before and nothing else.

Datasets are shared by the runs of an experiment: a dataset the experiment already
holds (same name and digest) is kept and the unit's inputs point at it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.stores.sql.bulk import quote
from mlmigrate.stores.sql.dialects.base import Bulk

_RUN_INPUTS = (
    "SELECT input_uuid FROM inputs WHERE (destination_type = 'RUN' AND destination_id IN ({ids})) "
    "OR (source_type IN ('RUN_INPUT', 'RUN_OUTPUT') AND source_id IN ({ids}))"
)  # {ids}: a subquery of run ids


#: ids per clearing statement
ID_SLICE = 10_000


class MergeWriter:
    """Per-batch clearing and dataset reuse for one merged unit, inside its transaction."""

    def __init__(
        self,
        bulk: Bulk,
        connection: Any,
        unit: int | str,
        tables: set[str],
        *,
        bind_ids: Callable[[list[str]], tuple[str, Any]],
    ):
        self.bulk = bulk
        self.connection = connection
        self.unit = unit
        self.tables = tables
        #: the dialect's way to put a list of ids in ``IN (…)`` (:meth:`Dialect.bind_ids`)
        self.bind_ids = bind_ids
        self.dataset_ids: dict[str, str] = {}  # the unit's dataset uuid -> the one already there

    def _owned(self, table: str, column: str) -> str:
        """Those of the bound ids (``{ids}``) that ``table`` holds in the merged experiment: an
        object of the same id in another experiment is not touched (its insert then fails as a
        clash)."""
        return (
            f"SELECT {column} FROM {quote(table)} WHERE experiment_id = {int(self.unit)} "
            f"AND {column} IN ({{ids}})"
        )

    def _delete(self, statements: list[tuple[str, str]], ids: list[str]) -> None:
        """Run each ``DELETE … WHERE`` with ``{ids}`` standing for ``ids``, a slice at a time
        (bounded statements where the ids are literals)."""
        for start in range(0, len(ids), ID_SLICE):
            fragment, bound = self.bind_ids(ids[start : start + ID_SLICE])
            for table, where in statements:
                if table in self.tables:
                    sql = f"DELETE FROM {quote(table)} WHERE {where}".replace("{ids}", fragment)
                    self.bulk.execute(self.connection, sql, bound)

    def prepare(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Clear what ``batch`` brings (or adapt it to what is kept); return the rows to insert."""
        if batch.num_rows == 0:
            return batch
        if table == "runs":
            runs = self._owned("runs", "run_uuid")
            inputs = _RUN_INPUTS.format(ids=runs)
            self._delete(
                [
                    ("input_tags", f"input_uuid IN ({inputs})"),
                    ("inputs", f"input_uuid IN ({inputs})"),
                    *[
                        (name, f"run_uuid IN ({runs})")
                        for name in ("params", "tags", "metrics", "latest_metrics")
                    ],
                    ("runs", f"run_uuid IN ({runs})"),
                ],
                batch.column("run_uuid").to_pylist(),
            )
        elif table == "logged_models":
            models = self._owned("logged_models", "model_id")
            self._delete(
                [
                    (name, f"model_id IN ({models})")
                    for name in (
                        "logged_model_metrics",
                        "logged_model_params",
                        "logged_model_tags",
                        "logged_models",
                    )
                ],
                batch.column("model_id").to_pylist(),
            )
        elif table == "trace_info":
            traces = self._owned("trace_info", "request_id")
            self._delete(
                [
                    ("span_metrics", f"trace_id IN ({traces})"),
                    ("spans", f"trace_id IN ({traces})"),
                    ("trace_metrics", f"request_id IN ({traces})"),
                    ("entity_associations", f"source_id IN ({traces}) OR destination_id IN ({traces})"),
                    ("assessments", f"trace_id IN ({traces})"),
                    ("trace_tags", f"request_id IN ({traces})"),
                    ("trace_request_metadata", f"request_id IN ({traces})"),
                    ("trace_info", f"request_id IN ({traces})"),
                ],
                batch.column("request_id").to_pylist(),
            )
        elif table == "model_versions":
            versions = ", ".join(str(int(v)) for v in batch.column("version").to_pylist())
            for name in ("model_version_tags", "model_versions"):
                self.bulk.execute(
                    self.connection,
                    f"DELETE FROM {quote(name)} WHERE name = :unit AND workspace = 'default' "
                    f"AND version IN ({versions})",
                    self.unit,
                )
        elif table == "datasets":
            return self._new_datasets(batch)
        elif table == "inputs" and self.dataset_ids:
            return self._inputs_to_kept_datasets(batch)
        return batch

    def _new_datasets(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        schema = pa.schema([("name", pa.string()), ("digest", pa.string()), ("dataset_uuid", pa.string())])
        there = self.bulk.fetch(
            self.connection,
            "SELECT name, digest, dataset_uuid FROM datasets WHERE experiment_id = :unit",
            self.unit,
            schema,
        )
        kept = {
            (name, digest): uuid
            for name, digest, uuid in zip(
                there.column("name").to_pylist(),
                there.column("digest").to_pylist(),
                there.column("dataset_uuid").to_pylist(),
                strict=True,
            )
        }
        new = []
        for index, (name, digest, uuid) in enumerate(
            zip(
                batch.column("name").to_pylist(),
                batch.column("digest").to_pylist(),
                batch.column("dataset_uuid").to_pylist(),
                strict=True,
            )
        ):
            if (name, digest) in kept:
                self.dataset_ids[uuid] = kept[(name, digest)]
            else:
                new.append(index)
        return batch.take(pa.array(new, pa.int64())) if len(new) != batch.num_rows else batch

    def _inputs_to_kept_datasets(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        source_ids = batch.column("source_id").to_pylist()
        types = batch.column("source_type").to_pylist()
        rewritten = [
            self.dataset_ids.get(source, source) if kind == "DATASET" else source
            for source, kind in zip(source_ids, types, strict=True)
        ]
        index = batch.schema.get_field_index("source_id")
        return batch.set_column(index, "source_id", pc.cast(pa.array(rewritten), pa.string()))
