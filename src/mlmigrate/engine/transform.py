"""Shaping a source unit's batches for its destination (ids, duplicates)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate import references
from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.artifacts.rewrite import references as artifact_references
from mlmigrate.engine.families import follows_mlflow_rules
from mlmigrate.engine.report import (
    ALREADY_PRESENT,
    KEPT_FROM_DESTINATION,
    MERGED_BY_KEY,
    NOT_HELD,
    REJECTED,
)
from mlmigrate.stores.base import BatchStream, Unit
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, RUN_TABLES, TABLES

#: tables that describe the experiment or model itself: under merge the destination keeps its own
_OWN_ROWS = {
    EXPERIMENT: ("experiments", "experiment_tags"),
    REGISTERED_MODEL: ("registered_models", "registered_model_tags", "registered_model_aliases"),
}


@dataclass(frozen=True)
class Shaping:
    """How a unit's rows change on their way to the destination, beyond its experiment id."""

    #: merge into an existing experiment or model (``--on-conflict merge``)
    into_existing: bool = False
    #: runs the destination already holds: left out
    skip_runs: frozenset[str] = frozenset()
    #: added to every version number (a model merged after the destination's versions)
    version_offset: int = 0
    #: new name of the experiment or registered model (``--on-conflict rename``)
    rename: str | None = None
    #: the tables the destination holds (None: all)
    held: frozenset[str] | None = None
    #: collapse exact duplicate metric points (a SQL key cannot hold them twice)
    collapse: bool = True
    #: runs of the source found malformed and left out (``--on-error skip``)
    rejected_runs: frozenset[str] = frozenset()
    #: ``table.column`` names the destination cannot hold: set to MLflow's default (0 or NULL)
    unheld_columns: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the journal."""
        return {
            "into_existing": self.into_existing,
            "skip_runs": sorted(self.skip_runs),
            "version_offset": self.version_offset,
            "rename": self.rename,
            "held": None if self.held is None else sorted(self.held),
            "collapse": self.collapse,
            "rejected_runs": sorted(self.rejected_runs),
            "unheld_columns": sorted(self.unheld_columns),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shaping:
        """The inverse of :meth:`as_dict`."""
        held = data.get("held")
        return cls(
            into_existing=bool(data.get("into_existing")),
            skip_runs=frozenset(data.get("skip_runs") or ()),
            version_offset=int(data.get("version_offset") or 0),
            rename=data.get("rename"),
            held=None if held is None else frozenset(held),
            collapse=bool(data.get("collapse", True)),
            rejected_runs=frozenset(data.get("rejected_runs") or ()),
            unheld_columns=frozenset(data.get("unheld_columns") or ()),
        )

    def rejecting(self, run_id: str) -> Shaping:
        """This shaping, with ``run_id`` left out as malformed too."""
        return dataclasses.replace(self, rejected_runs=self.rejected_runs | {run_id})


def reading(unit: Unit, shaping: Shaping) -> Unit:
    """``unit`` as the source is asked for it: without the runs the shaping rejected."""
    if not shaping.rejected_runs:
        return unit
    return dataclasses.replace(unit, leave_out=shaping.rejected_runs)


@dataclass
class Scope:
    """Ids of what a unit brought: the rows of it that a merged destination unit holds."""

    runs: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    traces: set[str] = field(default_factory=set)
    versions: set[int] = field(default_factory=set)

    def collect(self, table: str, batch: pa.RecordBatch) -> None:
        """Remember the ids a batch brings."""
        column = {"runs": "run_uuid", "logged_models": "model_id", "trace_info": "request_id"}.get(table)
        if column is not None:
            target = {"runs": self.runs, "logged_models": self.models, "trace_info": self.traces}[table]
            target.update(batch.column(column).to_pylist())
        elif table == "model_versions":
            self.versions.update(batch.column("version").to_pylist())

    def as_dict(self) -> dict[str, list[Any]]:
        """JSON-ready form."""
        return {
            "runs": sorted(self.runs),
            "models": sorted(self.models),
            "traces": sorted(self.traces),
            "versions": sorted(self.versions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[Any]]) -> Scope:
        """The inverse of :meth:`as_dict`."""
        return cls(
            set(data.get("runs", ())),
            set(data.get("models", ())),
            set(data.get("traces", ())),
            {int(v) for v in data.get("versions", ())},
        )

    @staticmethod
    def compares(table: str) -> bool:
        """Whether a merged unit's rows of ``table`` can be told apart from the destination's."""
        return (
            table in RUN_TABLES
            or table.startswith("logged_model")
            or table in ("trace_info", "trace_tags", "trace_request_metadata", "assessments")
            or table in ("model_versions", "model_version_tags")
        )

    def within(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The rows of ``batch`` that belong to this scope; None for tables a merged unit does
        not compare (the destination's own experiment/model rows, datasets and inputs, which
        are shared with the destination's other runs)."""
        if table in RUN_TABLES:
            column, ids = "run_uuid", self.runs
        elif table.startswith("logged_model"):
            column, ids = "model_id", self.models
        elif table in ("trace_info", "trace_tags", "trace_request_metadata"):
            column, ids = "request_id", self.traces
        elif table == "assessments":
            column, ids = "trace_id", self.traces
        elif table in ("model_versions", "model_version_tags"):
            return batch.filter(
                pc.is_in(batch.column("version"), pa.array(sorted(self.versions), pa.int64()))
            )
        else:
            return None
        return batch.filter(pc.is_in(batch.column(column), pa.array(sorted(ids), pa.string())))


#: what MLflow stores for ±inf where a database cannot hold it (``sanitize_metric_value``)
MAX_FLOAT = 1.7976931348623157e308


#: MLflow's SQL key of a logged model's metric points: no value, no dataset columns
LOGGED_MODEL_METRIC_KEY = ("model_id", "metric_name", "metric_timestamp_ms", "metric_step", "run_id")


def _first_rows(table: pa.Table, keys: list[str]) -> pa.Array:
    """Indices of the first row of each group of ``table`` by ``keys``, in row order."""
    numbered = table.select(keys).append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    first = numbered.group_by(keys, use_threads=False).aggregate([("_row", "min")])
    rows = first.column("_row_min").combine_chunks()
    return pc.take(rows, pc.array_sort_indices(rows))


def dedupe(table_name: str, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, int, int]:
    """``batch`` without the rows a SQL key holds only once, the first of each kept: how many
    were exact duplicates, and how many differed and were merged by the key.

    ``metrics``: the key spans every column, and databases compare floats by value, so -0.0
    and 0.0 at one step and timestamp are one point there (merged). ``logged_model_metrics``:
    MLflow's key has neither the value nor the dataset columns, so points of two datasets (or
    values) at one step and timestamp are one row there (merged; MLflow's own SQL writer keeps
    the first too).
    """
    table = pa.Table.from_batches([batch])
    if table_name == "metrics":  # grouping tells -0.0 from 0.0; -0.0 + 0.0 is 0.0
        exact_keys = list(table.column_names)
        table = table.append_column("_same_value", pc.add(table.column("value"), 0.0))
        merged_keys = [name for name in table.column_names if name != "value"]
    else:
        exact_keys = list(table.column_names)
        merged_keys = list(LOGGED_MODEL_METRIC_KEY)
    held = _first_rows(table, merged_keys)
    if len(held) == batch.num_rows:
        return batch, 0, 0
    distinct = table.select(exact_keys).group_by(exact_keys, use_threads=False).aggregate([]).num_rows
    kept = batch.take(held)
    return kept, batch.num_rows - distinct, distinct - len(held)


def finite(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, int]:
    """``batch`` with ±inf as ±max float and NaN as NULL in every float column; and how many
    values were changed."""
    changed = 0
    for index, column_field in enumerate(batch.schema):
        if not pa.types.is_floating(column_field.type):
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
        column = pc.if_else(nan, pa.scalar(None, column_field.type), column)
        batch = batch.set_column(index, column_field.name, column)
    return batch, changed


def _mapped(column: pa.Array, id_map: Mapping[str, str]) -> pa.Array:
    """``column`` (experiment ids, as numbers or text) with each id in ``id_map`` replaced."""
    text = column.cast(pa.string())
    found = pc.index_in(text, value_set=pa.array(list(id_map), pa.string()))
    replaced = pc.take(pa.array(list(id_map.values()), pa.string()), found)
    return pc.coalesce(replaced, text).cast(column.type)


def remap_experiments(table: str, batch: pa.RecordBatch, id_map: Mapping[str, str]) -> pa.RecordBatch:
    """A global table's batch with its experiment references rewritten by ``id_map``: its
    ``experiment_id`` column and the ids its values hold (:data:`mlmigrate.references.REFERENCES`)."""
    if not id_map or batch.num_rows == 0:
        return batch
    index = batch.schema.get_field_index("experiment_id")
    if index >= 0:
        batch = batch.set_column(index, "experiment_id", _mapped(batch.column(index), id_map))
    return references.remap(table, batch, id_map)


def _leave_out(left_out: dict[str, Counter[str]] | None, reason: str, table: str, rows: int) -> None:
    if left_out is not None and rows:
        left_out.setdefault(reason, Counter())[table] += rows


def _reset_unheld(table: str, batch: pa.RecordBatch, unheld: frozenset[str]) -> pa.RecordBatch:
    """``batch`` with the columns the destination cannot hold set to MLflow's default: 0 for a
    whole-number column, NULL otherwise."""
    for index, name in enumerate(batch.schema.names):
        if f"{table}.{name}" in unheld:
            kind = batch.schema.field(index).type
            default = (
                pa.array(np.zeros(batch.num_rows, dtype=np.int64)).cast(kind)
                if pa.types.is_integer(kind)
                else pa.nulls(batch.num_rows, kind)
            )
            batch = batch.set_column(index, name, default)
    return batch


def for_destination(
    stream: BatchStream,
    *,
    unit_kind: str,
    dest_id: str,
    collapsed: Counter[str],
    shaping: Shaping | None = None,
    left_out: dict[str, Counter[str]] | None = None,
    made_finite: Counter[str] | None = None,
    experiment_ids: Mapping[str, str] | None = None,
    rewrite: UriRewrite | None = None,
    artifacts: list[tuple[str, str]] | None = None,
) -> BatchStream:
    """Rewrite experiment ids to ``dest_id``, collapse exact duplicate metric points and apply
    the unit's ``shaping`` (merge, skipped runs, renumbered versions, renames, held tables).

    ``collapsed`` counts the duplicates removed per table and ``left_out`` the rows read and
    not written, per reason and table, for the report. With ``made_finite`` (a destination
    without ±inf), non-finite floats are mapped by :func:`finite` and counted there per table.
    Experiment ids that change (``experiment_ids``) are rewritten where values hold them
    (:data:`mlmigrate.references.REFERENCES`, in any unit) and in the ``experiment_id``
    columns of tables outside the canonical model (the global unit). Artifact URIs are
    rewritten by ``rewrite``, and ``artifacts`` (when given) collects the ``(kind, uri)``
    artifact locations the rows reference.
    """
    shaping = shaping or Shaping()
    if not follows_mlflow_rules(unit_kind):  # another family's rows go as they are
        yield from _as_they_are(stream, shaping, left_out, made_finite)
        return
    experiment = int(dest_id) if unit_kind == EXPERIMENT else None
    skip_inputs: set[str] = set()
    skip_runs = pa.array(sorted(shaping.skip_runs), pa.string()) if shaping.skip_runs else None
    rejected = pa.array(sorted(shaping.rejected_runs), pa.string()) if shaping.rejected_runs else None
    rejected_inputs: set[str] = set()
    for table, batch in _as_they_are(stream, shaping, left_out, made_finite):  # held, finite
        spec = TABLES.get(table)
        if spec is None:
            yield table, remap_experiments(table, batch, experiment_ids or {})
            continue
        if shaping.unheld_columns:
            batch = _reset_unheld(table, batch, shaping.unheld_columns)
        if shaping.into_existing and table in _OWN_ROWS.get(unit_kind, ()):
            _leave_out(left_out, KEPT_FROM_DESTINATION, table, batch.num_rows)
            continue
        if skip_runs is not None:
            before = batch.num_rows
            batch, skip_inputs = _without_runs(table, batch, skip_runs, skip_inputs)
            _leave_out(left_out, ALREADY_PRESENT, table, before - batch.num_rows)
        if rejected is not None:
            before = batch.num_rows
            batch, rejected_inputs = _without_runs(table, batch, rejected, rejected_inputs)
            _leave_out(left_out, REJECTED, table, before - batch.num_rows)
        if artifacts is not None:
            artifacts += artifact_references(table, batch)
        if rewrite:
            batch = rewrite.batch(table, batch)
        if experiment_ids:
            batch = references.remap(table, batch, experiment_ids)
        if shaping.version_offset and "version" in batch.schema.names and unit_kind == REGISTERED_MODEL:
            index = batch.schema.get_field_index("version")
            batch = batch.set_column(
                index, "version", pc.add(batch.column(index), pa.scalar(shaping.version_offset, pa.int64()))
            )
        if (
            shaping.rename is not None
            and "name" in batch.schema.names
            and (unit_kind == REGISTERED_MODEL or table == "experiments")
        ):
            index = batch.schema.get_field_index("name")
            batch = batch.set_column(
                index, "name", pa.repeat(pa.scalar(shaping.rename, pa.string()), batch.num_rows)
            )
        if experiment is not None and spec.experiment_columns:
            constant = pa.repeat(pa.scalar(experiment, pa.int64()), batch.num_rows)
            for column in spec.experiment_columns:
                index = batch.schema.get_field_index(column)
                batch = batch.set_column(index, column, constant)
        if table in ("metrics", "logged_model_metrics") and shaping.collapse:
            batch, duplicates, merged = dedupe(table, batch)
            if duplicates:
                collapsed[table] += duplicates
            _leave_out(left_out, MERGED_BY_KEY, table, merged)
        yield table, batch


def _as_they_are(
    stream: BatchStream,
    shaping: Shaping,
    left_out: dict[str, Counter[str]] | None,
    made_finite: Counter[str] | None,
) -> BatchStream:
    """A unit of a family without MLflow's rules: only tables the destination does not hold
    are left out and values it cannot hold mapped, each counted for the report."""
    for table, batch in stream:
        if shaping.held is not None and table not in shaping.held:
            _leave_out(left_out, NOT_HELD, table, batch.num_rows)
            continue
        if made_finite is not None:
            batch, changed = finite(batch)
            if changed:
                made_finite[table] += changed
        yield table, batch


#: the tables of a logged model, by its ``model_id``
LOGGED_MODEL_TABLES = ("logged_models", "logged_model_params", "logged_model_tags", "logged_model_metrics")


def _without_runs(
    table: str, batch: pa.RecordBatch, runs: pa.Array, skip_inputs: set[str]
) -> tuple[pa.RecordBatch, set[str]]:
    """``batch`` without the rows of ``runs`` (and of their inputs, remembered for input tags);
    logged models among ``runs`` (rejected as malformed) go with their params, tags and metrics."""
    if table in RUN_TABLES:
        return batch.filter(pc.invert(pc.is_in(batch.column("run_uuid"), runs))), skip_inputs
    if table in LOGGED_MODEL_TABLES:
        return batch.filter(pc.invert(pc.is_in(batch.column("model_id"), runs))), skip_inputs
    if table == "inputs":
        owner = pc.if_else(
            pc.equal(batch.column("destination_type"), "RUN"),
            batch.column("destination_id"),
            batch.column("source_id"),
        )
        dropped = pc.is_in(owner, runs)
        skip_inputs = skip_inputs | set(batch.filter(dropped).column("input_uuid").to_pylist())
        return batch.filter(pc.invert(dropped)), skip_inputs
    if table == "input_tags" and skip_inputs:
        ids = pa.array(sorted(skip_inputs), pa.string())
        return batch.filter(pc.invert(pc.is_in(batch.column("input_uuid"), ids))), skip_inputs
    return batch, skip_inputs
