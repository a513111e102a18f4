"""The plugin's documents → canonical rows (MongoDB as a source, and read-back for verify).

Documents mlmigrate wrote carry a ``mlmigrate`` sub-document with the canonical columns
the plugin has no field for; documents the plugin wrote itself have none, and those
columns come out as MLflow's SQL store would fill them (or null).
"""

from __future__ import annotations

import math
from typing import Any

from mlmigrate.stores.mongodb.layout import EXTRA, canonical_experiment_id
from mlmigrate.stores.trace_analytics import promoted_columns

TRACE_NAME_TAG = "mlflow.traceName"
_SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"


class Columns:
    """Rows of one canonical table gathered column by column."""

    def __init__(self, names: list[str]):
        self.data: dict[str, list[Any]] = {name: [] for name in names}

    def add(self, **values: Any) -> None:
        """Append one row (missing columns become null)."""
        for name, column in self.data.items():
            column.append(values.get(name))

    def __len__(self) -> int:
        return len(next(iter(self.data.values()), []))


def split_value(value: Any) -> tuple[float | None, bool]:
    """A stored metric value as SQL keeps it: NaN is ``value=0, is_nan=true``."""
    if isinstance(value, float) and math.isnan(value):
        return 0.0, True
    return (float(value) if value is not None else None), False


def experiment_row(document: dict[str, Any], experiment_id: int | None) -> dict[str, Any]:
    """The ``experiments`` row of an experiment document."""
    extra = document.get(EXTRA) or {}
    return {
        "experiment_id": experiment_id,
        "name": document["name"],
        "artifact_location": document.get("artifact_location"),
        "lifecycle_stage": document.get("lifecycle_stage"),
        "creation_time": document.get("creation_time"),
        "last_update_time": document.get("last_update_time"),
        "workspace": extra.get("workspace", "default"),
    }


def run_row(document: dict[str, Any], experiment_id: int | None) -> dict[str, Any]:
    """The ``runs`` row of a run document."""
    extra = document.get(EXTRA) or {}
    return {
        "run_uuid": document["_id"],
        "name": document.get("name"),
        "source_type": extra.get("source_type", "UNKNOWN"),
        "source_name": extra.get("source_name", ""),
        "entry_point_name": extra.get("entry_point_name", ""),
        "user_id": document.get("user_id"),
        "status": document.get("status"),
        "start_time": document.get("start_time"),
        "end_time": document.get("end_time"),
        "source_version": extra.get("source_version", ""),
        "lifecycle_stage": document.get("lifecycle_stage"),
        "artifact_uri": document.get("artifact_uri"),
        "experiment_id": experiment_id,
        "deleted_time": document.get("deleted_time"),
    }


def logged_model_status(document: dict[str, Any]) -> int | None:
    """The SQL status number of a logged model (the plugin stores the name)."""
    extra = document.get(EXTRA) or {}
    if "status" in extra:
        return extra["status"]
    status = document.get("status")
    if status is None:
        return None
    from mlflow.entities.logged_model_status import LoggedModelStatus

    return LoggedModelStatus(status).to_int()


def trace_columns(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(trace_info columns beyond the plugin's, tags, metadata) of a trace document."""
    tags = {tag["k"]: tag["v"] for tag in document.get("tags", [])}
    metadata = {item["k"]: item["v"] for item in document.get("trace_metadata", [])}
    extra = document.get(EXTRA)
    if extra is not None:
        for key in extra.get("added_tags", []):
            tags.pop(key, None)
        for key in extra.get("added_metadata", []):
            metadata.pop(key, None)
        return {"db_payload_generation": 0, **extra.get("trace_info", {})}, tags, metadata
    # written by the plugin itself: as MLflow's SQL store would keep it
    tags.pop(_SPANS_LOCATION_TAG, None)
    info: dict[str, Any] = {"trace_name": tags.pop(TRACE_NAME_TAG, None), "db_payload_generation": 0}
    info.update(promoted_columns(metadata))
    return info, tags, metadata


def assessment_row(document: dict[str, Any], experiment_id: int | None, trace_time: Any) -> dict[str, Any]:
    """The ``assessments`` row of an assessment document."""
    extra = document.get(EXTRA)
    if extra is not None and "row" in extra:
        return {**extra["row"], "experiment_id": experiment_id}
    from mlflow.entities.assessment import Assessment
    from mlflow.store.tracking.dbmodels.models import SqlAssessments

    content = document["content"]
    entity = Assessment.from_dictionary(content)
    entity.run_id = content.get("run_id", entity.run_id)
    sql = SqlAssessments.from_mlflow_entity(entity)
    row = {name: getattr(sql, name, None) for name in sql.__table__.columns.keys()}  # noqa: SIM118
    row.update(
        {
            "assessment_id": document["assessment_id"],
            "trace_id": document["trace_id"],
            "valid": bool(content.get("valid", True)),
            "overrides": content.get("overrides"),
            "experiment_id": experiment_id,
            "trace_timestamp_ms": trace_time,
        }
    )
    return row


__all__ = [
    "Columns",
    "assessment_row",
    "canonical_experiment_id",
    "experiment_row",
    "logged_model_status",
    "run_row",
    "split_value",
    "trace_columns",
]
