"""Read the traces of one FileStore experiment (``traces/<trace_id>/``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.filestore.assessments import assessment_row
from mlmigrate.stores.filestore.files import key_files_as_dict, read_yaml, subfolders
from mlmigrate.stores.trace_analytics import promoted_columns
from mlmigrate.tables import TABLES, batch_from_columns

TRACE_NAME_TAG = "mlflow.traceName"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DURATION = re.compile(r"^(?P<seconds>-?\d+(\.\d+)?)s$")


def timestamp_ms(value: Any, path: Path) -> int:
    """Milliseconds since the epoch of a V2 ``timestamp_ms`` or a V3 ``request_time``."""
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SourceFormatError(f"request_time {value!r} is not a timestamp", path=str(path)) from exc
        return timestamp_ms(moment, path)
    raise SourceFormatError(f"trace has no usable request time: {value!r}", path=str(path))


def duration_ms(value: Any, path: Path) -> int | None:
    """Milliseconds of a V2 int or a V3 protobuf duration string such as ``"0.125s"``."""
    if value is None or isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if match:
        return round(float(match.group("seconds")) * 1000)
    try:
        return int(value)
    except ValueError as exc:
        raise SourceFormatError(f"execution duration {value!r} is not understood", path=str(path)) from exc


def read_traces(traces_dir: Path, exp_id: str) -> BatchStream:
    """trace_info, trace_tags, trace_request_metadata and assessments of one experiment."""
    names = subfolders(traces_dir)
    if not names:
        return
    info: dict[str, list[Any]] = {name: [] for name in TABLES["trace_info"].columns}
    tags: dict[str, list[Any]] = {"key": [], "value": [], "request_id": []}
    metadata: dict[str, list[Any]] = {"key": [], "value": [], "request_id": []}
    assessments: dict[str, list[Any]] = {name: [] for name in TABLES["assessments"].columns}
    for name in names:
        trace_dir = traces_dir / name
        path = trace_dir / "trace_info.yaml"
        meta = read_yaml(path)
        trace_id = str(meta.get("trace_id") or meta.get("request_id") or name)
        when = timestamp_ms(meta.get("timestamp_ms", meta.get("request_time")), path)
        trace_tags = key_files_as_dict(trace_dir / "tags")
        trace_metadata = key_files_as_dict(trace_dir / "request_metadata")
        row: dict[str, Any] = dict.fromkeys(TABLES["trace_info"].columns)
        row.update(
            {
                "request_id": trace_id,
                "experiment_id": int(exp_id),
                "db_payload_generation": 0,  # MLflow's SQL default; a FileStore does not count span writes
                "timestamp_ms": when,
                "execution_time_ms": duration_ms(
                    meta.get(
                        "execution_time_ms", meta.get("execution_duration_ms", meta.get("execution_duration"))
                    ),
                    path,
                ),
                "status": str(meta.get("status") or meta.get("state") or "OK"),
                "client_request_id": meta.get("client_request_id"),
                "request_preview": meta.get("request_preview"),
                "response_preview": meta.get("response_preview"),
                "trace_name": trace_tags.pop(TRACE_NAME_TAG, None),
            }
        )
        row.update(promoted_columns(trace_metadata))
        for column, value in row.items():
            info[column].append(value)
        for table, values in ((tags, trace_tags), (metadata, trace_metadata)):
            table["key"] += list(values)
            table["value"] += list(values.values())
            table["request_id"] += [trace_id] * len(values)
        _collect_assessments(trace_dir / "assessments", trace_id, int(exp_id), when, assessments)
    yield "trace_info", batch_from_columns("trace_info", info)
    if tags["key"]:
        yield "trace_tags", batch_from_columns("trace_tags", tags)
    if metadata["key"]:
        yield "trace_request_metadata", batch_from_columns("trace_request_metadata", metadata)
    if assessments["assessment_id"]:
        yield "assessments", batch_from_columns("assessments", assessments)


def _collect_assessments(
    folder: Path, trace_id: str, exp_id: int, trace_time: int, out: dict[str, list[Any]]
) -> None:
    """Assessments as MLflow's SQL store would write them."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.yaml")):
        meta = read_yaml(path)
        try:
            values = assessment_row(meta)
        except Exception as exc:
            raise SourceFormatError(f"assessment cannot be read: {exc}", path=str(path)) from exc
        values.update(
            {
                "trace_id": trace_id,
                "valid": bool(meta.get("valid", True)),
                "experiment_id": exp_id,
                "trace_timestamp_ms": trace_time,
                "assessment_id": str(meta.get("assessment_id") or path.stem),
            }
        )
        for column in TABLES["assessments"].columns:
            out[column].append(values[column])
