"""The canonical model: MLflow's relational tables as fixed Arrow schemas.

Every store maps its own layout to and from these tables at its edge. Column
names and meanings follow MLflow's SQL schema (``mlflow db upgrade`` head of
MLflow 3.17). Metric values follow the SQL convention: NaN is ``value=0,
is_nan=true``; ±inf is kept as ±inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

STRING = pa.string()
INT = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its Arrow schema, natural key and what it hangs from."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    #: the unit kind whose transaction owns these rows
    unit_kind: str
    #: columns holding an experiment id, rewritten when ids are remapped
    experiment_columns: tuple[str, ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        """Column names in schema order."""
        return self.schema.names


def _table(
    name: str,
    unit_kind: str,
    key: tuple[str, ...],
    *columns: tuple[str, pa.DataType],
    experiment_columns: tuple[str, ...] = (),
) -> TableSpec:
    schema = pa.schema([pa.field(col, typ) for col, typ in columns])
    return TableSpec(name, schema, key, unit_kind, experiment_columns)


EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
#: the unit of every MLflow SQL table outside the canonical model (only SQL stores have them)
GLOBAL = "global"

#: the tables whose rows belong to one run, by their ``run_uuid``
RUN_TABLES = ("runs", "params", "tags", "metrics", "latest_metrics")

#: Tables in the order parents come before children (foreign keys).
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        _table(
            "experiments",
            EXPERIMENT,
            ("experiment_id",),
            ("experiment_id", INT),
            ("name", STRING),
            ("artifact_location", STRING),
            ("lifecycle_stage", STRING),
            ("creation_time", INT),
            ("last_update_time", INT),
            ("workspace", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "experiment_tags",
            EXPERIMENT,
            ("experiment_id", "key"),
            ("key", STRING),
            ("value", STRING),
            ("experiment_id", INT),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "runs",
            EXPERIMENT,
            ("run_uuid",),
            ("run_uuid", STRING),
            ("name", STRING),
            ("source_type", STRING),
            ("source_name", STRING),
            ("entry_point_name", STRING),
            ("user_id", STRING),
            ("status", STRING),
            ("start_time", INT),
            ("end_time", INT),
            ("source_version", STRING),
            ("lifecycle_stage", STRING),
            ("artifact_uri", STRING),
            ("experiment_id", INT),
            ("deleted_time", INT),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "params",
            EXPERIMENT,
            ("run_uuid", "key"),
            ("key", STRING),
            ("value", STRING),
            ("run_uuid", STRING),
        ),
        _table(
            "tags", EXPERIMENT, ("run_uuid", "key"), ("key", STRING), ("value", STRING), ("run_uuid", STRING)
        ),
        _table(
            "metrics",
            EXPERIMENT,
            ("run_uuid", "key", "timestamp", "step", "value", "is_nan"),
            ("key", STRING),
            ("value", FLOAT),
            ("timestamp", INT),
            ("run_uuid", STRING),
            ("step", INT),
            ("is_nan", BOOL),
        ),
        _table(
            "latest_metrics",
            EXPERIMENT,
            ("run_uuid", "key"),
            ("key", STRING),
            ("value", FLOAT),
            ("timestamp", INT),
            ("step", INT),
            ("is_nan", BOOL),
            ("run_uuid", STRING),
        ),
        _table(
            "datasets",
            EXPERIMENT,
            ("experiment_id", "name", "digest"),
            ("dataset_uuid", STRING),
            ("experiment_id", INT),
            ("name", STRING),
            ("digest", STRING),
            ("dataset_source_type", STRING),
            ("dataset_source", STRING),
            ("dataset_schema", STRING),
            ("dataset_profile", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "inputs",
            EXPERIMENT,
            ("source_type", "source_id", "destination_type", "destination_id"),
            ("input_uuid", STRING),
            ("source_type", STRING),
            ("source_id", STRING),
            ("destination_type", STRING),
            ("destination_id", STRING),
            ("step", INT),
        ),
        _table(
            "input_tags",
            EXPERIMENT,
            ("input_uuid", "name"),
            ("input_uuid", STRING),
            ("name", STRING),
            ("value", STRING),
        ),
        _table(
            "logged_models",
            EXPERIMENT,
            ("model_id",),
            ("model_id", STRING),
            ("experiment_id", INT),
            ("name", STRING),
            ("artifact_location", STRING),
            ("creation_timestamp_ms", INT),
            ("last_updated_timestamp_ms", INT),
            ("status", INT),
            ("lifecycle_stage", STRING),
            ("model_type", STRING),
            ("source_run_id", STRING),
            ("status_message", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "logged_model_params",
            EXPERIMENT,
            ("model_id", "param_key"),
            ("model_id", STRING),
            ("experiment_id", INT),
            ("param_key", STRING),
            ("param_value", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "logged_model_tags",
            EXPERIMENT,
            ("model_id", "tag_key"),
            ("model_id", STRING),
            ("experiment_id", INT),
            ("tag_key", STRING),
            ("tag_value", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "logged_model_metrics",
            EXPERIMENT,
            ("model_id", "metric_name", "metric_timestamp_ms", "metric_step", "run_id"),
            ("model_id", STRING),
            ("metric_name", STRING),
            ("metric_timestamp_ms", INT),
            ("metric_step", INT),
            ("metric_value", FLOAT),
            ("experiment_id", INT),
            ("run_id", STRING),
            ("dataset_uuid", STRING),
            ("dataset_name", STRING),
            ("dataset_digest", STRING),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "trace_info",
            EXPERIMENT,
            ("request_id",),
            ("request_id", STRING),
            ("experiment_id", INT),
            ("timestamp_ms", INT),
            ("execution_time_ms", INT),
            ("status", STRING),
            ("client_request_id", STRING),
            ("request_preview", STRING),
            ("response_preview", STRING),
            ("db_payload_generation", INT),
            ("trace_name", STRING),
            ("session_id", STRING),
            ("input_tokens", INT),
            ("output_tokens", INT),
            ("total_tokens", INT),
            ("cache_read_input_tokens", INT),
            ("cache_creation_input_tokens", INT),
            ("cache_creation_input_tokens_above_1hr", INT),
            ("input_cost", FLOAT),
            ("output_cost", FLOAT),
            ("total_cost", FLOAT),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "trace_tags",
            EXPERIMENT,
            ("request_id", "key"),
            ("key", STRING),
            ("value", STRING),
            ("request_id", STRING),
        ),
        _table(
            "trace_request_metadata",
            EXPERIMENT,
            ("request_id", "key"),
            ("key", STRING),
            ("value", STRING),
            ("request_id", STRING),
        ),
        _table(
            "assessments",
            EXPERIMENT,
            ("assessment_id",),
            ("assessment_id", STRING),
            ("trace_id", STRING),
            ("name", STRING),
            ("assessment_type", STRING),
            ("value", STRING),
            ("error", STRING),
            ("created_timestamp", INT),
            ("last_updated_timestamp", INT),
            ("source_type", STRING),
            ("source_id", STRING),
            ("run_id", STRING),
            ("span_id", STRING),
            ("rationale", STRING),
            ("overrides", STRING),
            ("valid", BOOL),
            ("assessment_metadata", STRING),
            ("experiment_id", INT),
            ("trace_timestamp_ms", INT),
            ("aggregate_value", FLOAT),
            ("is_numeric_value", BOOL),
            experiment_columns=("experiment_id",),
        ),
        _table(
            "registered_models",
            REGISTERED_MODEL,
            ("workspace", "name"),
            ("name", STRING),
            ("creation_time", INT),
            ("last_updated_time", INT),
            ("description", STRING),
            ("workspace", STRING),
        ),
        _table(
            "registered_model_tags",
            REGISTERED_MODEL,
            ("workspace", "name", "key"),
            ("key", STRING),
            ("value", STRING),
            ("name", STRING),
            ("workspace", STRING),
        ),
        _table(
            "model_versions",
            REGISTERED_MODEL,
            ("workspace", "name", "version"),
            ("name", STRING),
            ("version", INT),
            ("creation_time", INT),
            ("last_updated_time", INT),
            ("description", STRING),
            ("user_id", STRING),
            ("current_stage", STRING),
            ("source", STRING),
            ("run_id", STRING),
            ("status", STRING),
            ("status_message", STRING),
            ("run_link", STRING),
            ("storage_location", STRING),
            ("workspace", STRING),
        ),
        _table(
            "model_version_tags",
            REGISTERED_MODEL,
            ("workspace", "name", "version", "key"),
            ("key", STRING),
            ("value", STRING),
            ("name", STRING),
            ("version", INT),
            ("workspace", STRING),
        ),
        _table(
            "registered_model_aliases",
            REGISTERED_MODEL,
            ("workspace", "name", "alias"),
            ("alias", STRING),
            ("version", INT),
            ("name", STRING),
            ("workspace", STRING),
        ),
    ]
}


def tables_of(unit_kind: str) -> list[TableSpec]:
    """The tables a unit of ``unit_kind`` carries, parents first."""
    return [spec for spec in TABLES.values() if spec.unit_kind == unit_kind]


def batch_from_columns(table: str, columns: Mapping[str, Any]) -> pa.RecordBatch:
    """Build a batch of ``table`` from column arrays/lists; missing columns become null."""
    spec = TABLES[table]
    length = None
    for value in columns.values():
        length = len(value)  # type: ignore[arg-type]
        break
    arrays = []
    for f in spec.schema:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(length or 0, type=f.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(f.type) if value.type != f.type else value)
        else:
            arrays.append(pa.array(value, type=f.type))
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, schema=spec.schema)


def is_id(text: str) -> bool:
    """Whether ``text`` spells a numeric id (ASCII digits only: ``str.isdigit`` also accepts
    ``²`` and other digits ``int`` refuses)."""
    return text.isascii() and text.isdigit()
