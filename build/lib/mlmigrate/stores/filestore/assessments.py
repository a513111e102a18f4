"""FileStore assessments (``traces/<id>/assessments/*.yaml``) as rows of MLflow's ``assessments`` table.

The row is the one MLflow's SQL store writes for the same assessment
(``SqlAssessments.from_mlflow_entity(Assessment.from_dictionary(...))``). The
common shapes, feedback and expectations as the client logs them, are mapped
here directly, which spares each reader process the second it takes to import
``mlflow``; any other shape (issue references, legacy source types, unusual
timestamps or values) goes through MLflow's own classes, so both paths give
MLflow's answer. A test compares the two on generated assessments.
"""

from __future__ import annotations

import json
import math
import re
from calendar import timegm
from datetime import datetime
from typing import Any

SOURCE_RUN_ID = "mlflow.assessment.sourceRunId"
_SOURCE_TYPES = frozenset({"SOURCE_TYPE_UNSPECIFIED", "LLM_JUDGE", "HUMAN", "CODE"})
_TOP_LEVEL = frozenset(
    {
        "assessment_id",
        "assessment_name",
        "trace_id",
        "source",
        "create_time",
        "last_update_time",
        "feedback",
        "expectation",
        "rationale",
        "metadata",
        "span_id",
        "overrides",
        "valid",
        "run_id",
    }
)
_ERROR_KEYS = ("error_code", "error_message", "stack_trace")
_UTC_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


def assessment_row(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``assessments`` columns MLflow's SQL store writes for one FileStore assessment.

    Raises what MLflow raises for an assessment it cannot read.
    """
    row = _direct_row(meta)
    return row if row is not None else _row_through_mlflow(meta)


def _direct_row(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The row for a plain feedback or expectation; ``None`` for any other shape."""
    if not isinstance(meta, dict) or not set(meta) <= _TOP_LEVEL:
        return None
    feedback, expectation = meta.get("feedback"), meta.get("expectation")
    if bool(feedback) == bool(expectation) or not isinstance(feedback or expectation, dict):
        return None
    name, source = meta.get("assessment_name"), _source(meta.get("source"))
    created, updated = _milliseconds(meta.get("create_time")), _milliseconds(meta.get("last_update_time"))
    metadata = meta.get("metadata")
    if not isinstance(name, str) or source is None or not created or not updated:
        return None
    if metadata is not None and not (isinstance(metadata, dict) and _plain_json(metadata)):
        return None
    for key in ("span_id", "rationale", "overrides"):
        if not isinstance(meta.get(key), (str, type(None))):
            return None
    if feedback:
        parts: tuple[str, Any, str | None] | None = _feedback(feedback)
        extra = {"rationale": meta.get("rationale"), "overrides": meta.get("overrides")}
    else:
        parts = _expectation(expectation or {})
        extra = {"rationale": None, "overrides": None}
    if parts is None:
        return None
    kind, value, error_json = parts
    aggregate, numeric = _aggregate(value)
    return {
        "assessment_id": meta.get("assessment_id") or None,
        "trace_id": meta.get("trace_id"),
        "name": name,
        "assessment_type": kind,
        "value": json.dumps(value),
        "error": error_json,
        "created_timestamp": created,
        "last_updated_timestamp": updated,
        "source_type": source[0],
        "source_id": source[1],
        "run_id": metadata.get(SOURCE_RUN_ID) if metadata else None,
        "span_id": meta.get("span_id"),
        "valid": True,
        "assessment_metadata": json.dumps(metadata) if metadata else None,
        "aggregate_value": aggregate,
        "is_numeric_value": numeric,
        **extra,
    }


def _source(source: Any) -> tuple[str, str | None] | None:
    if not isinstance(source, dict) or not set(source) <= {"source_type", "source_id"}:
        return None
    kind, source_id = source.get("source_type"), source.get("source_id", "default")
    if not isinstance(kind, str) or kind.upper() not in _SOURCE_TYPES:
        return None
    if not isinstance(source_id, (str, type(None))):
        return None
    return kind.upper(), source_id


def _milliseconds(value: Any) -> int | None:
    """Milliseconds of a protobuf JSON timestamp in UTC (``2025-04-15T08:49:18.699Z``)."""
    match = _UTC_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    fraction = (match.group(2) or "").ljust(9, "0")
    return timegm(moment.timetuple()) * 1000 + int(fraction) // 1_000_000


def _feedback(feedback: dict[str, Any]) -> tuple[str, Any, str | None] | None:
    if not set(feedback) <= {"value", "error"} or "value" not in feedback:
        return None
    value, error = feedback["value"], feedback.get("error")
    if not _plain_json(value):
        return None
    if not error:
        return "feedback", value, None
    if not isinstance(error, dict) or not set(error) <= set(_ERROR_KEYS) or "error_code" not in error:
        return None
    if not all(isinstance(error.get(key), (str, type(None))) for key in _ERROR_KEYS):
        return None
    return "feedback", value, json.dumps({key: error.get(key) for key in _ERROR_KEYS})


def _expectation(expectation: dict[str, Any]) -> tuple[str, Any, None] | None:
    if set(expectation) == {"value"}:
        value = expectation["value"]
    elif set(expectation) == {"serialized_value"}:
        serialized = expectation["serialized_value"]
        if not isinstance(serialized, dict) or not isinstance(serialized.get("value"), str):
            return None
        try:
            value = json.loads(serialized["value"])
        except ValueError:
            return None
    else:
        return None
    return ("expectation", value, None) if _plain_json(value) else None


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is made only of what JSON holds (as YAML and ``json`` load it)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    return False


def _aggregate(value: Any) -> tuple[float | None, bool]:
    """The numeric summary MLflow keeps beside an assessment's value, and whether it is a number."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), False
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None, False
        return (number, True) if math.isfinite(number) else (None, False)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return (1.0 if value.strip().lower() == "yes" else 0.0), False
    return None, False


def _row_through_mlflow(meta: dict[str, Any]) -> dict[str, Any]:
    from mlflow.entities.assessment import Assessment
    from mlflow.store.tracking.dbmodels.models import SqlAssessments

    row = SqlAssessments.from_mlflow_entity(Assessment.from_dictionary(meta))
    columns = [
        "assessment_id",
        "trace_id",
        "name",
        "assessment_type",
        "value",
        "error",
        "created_timestamp",
        "last_updated_timestamp",
        "source_type",
        "source_id",
        "run_id",
        "span_id",
        "rationale",
        "overrides",
        "valid",
        "assessment_metadata",
        "aggregate_value",
        "is_numeric_value",
    ]
    return {column: getattr(row, column) for column in columns}
