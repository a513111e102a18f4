"""The plugin's documents → canonical batches, per unit (MongoDB as a source, and read-back)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.mongodb import layout
from mlmigrate.stores.mongodb.layout import EXTRA, canonical_experiment_id
from mlmigrate.stores.mongodb.rows import (
    Columns,
    assessment_row,
    experiment_row,
    logged_model_status,
    run_row,
    split_value,
    trace_columns,
)
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, TABLES, batch_from_columns

#: rows per canonical batch when reading metric points back
READ_BATCH = 50_000
#: ids per ``$in`` query
IN_CHUNK = 1000


def chunks(items: list[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    """``items`` in slices of ``size`` (for ``$in`` queries)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batch(table: str, columns: Columns) -> Iterator[tuple[str, pa.RecordBatch]]:
    if len(columns):
        yield table, batch_from_columns(table, columns.data)


def read_experiment(db: Any, key: str) -> BatchStream:
    """All canonical rows of experiment ``key`` from its documents."""
    document = db[layout.EXPERIMENTS].find_one({"_id": key})
    if document is None:
        return
    eid = canonical_experiment_id(key)
    aside: dict[str, list[dict[str, Any]]] = (document.get(EXTRA) or {}).get("rows", {})
    out = {name: Columns(TABLES[name].columns) for name in TABLES if TABLES[name].unit_kind == EXPERIMENT}
    out["experiments"].add(**experiment_row(document, eid))
    for tag in document.get("tags", []):
        out["experiment_tags"].add(key=tag["k"], value=tag["v"], experiment_id=eid)
    yield from _batch("experiments", out["experiments"])
    yield from _batch("experiment_tags", out["experiment_tags"])

    runs = list(db[layout.RUNS].find({"experiment_id": key}))
    seen: set[str] = set()
    for run in runs:
        run_id = run["_id"]
        out["runs"].add(**run_row(run, eid))
        for param in run.get("params", []):
            out["params"].add(key=param["k"], value=param["v"], run_uuid=run_id)
        for tag in run.get("tags", []):
            out["tags"].add(key=tag["k"], value=tag["v"], run_uuid=run_id)
        for metric in run.get("metrics", []):
            value, is_nan = split_value(metric["v"])
            out["latest_metrics"].add(
                key=metric["k"],
                value=value,
                timestamp=metric.get("timestamp"),
                step=metric.get("step"),
                is_nan=is_nan,
                run_uuid=run_id,
            )
        _read_inputs(run, eid, out, seen)
    for table in ("runs", "params", "tags"):
        yield from _batch(table, out[table])
    yield from _read_metrics(db, [r["_id"] for r in runs])
    yield from _batch("latest_metrics", out["latest_metrics"])
    for table in ("datasets", "inputs", "input_tags"):
        for row in aside.get(table, []):
            out[table].add(**{**row, **({"experiment_id": eid} if "experiment_id" in row else {})})
        yield from _batch(table, out[table])

    models = list(db[layout.LOGGED_MODELS].find({"experiment_id": key}))
    for model in models:
        model_id = model["_id"]
        out["logged_models"].add(
            model_id=model_id,
            experiment_id=eid,
            name=model.get("name"),
            artifact_location=model.get("artifact_location"),
            creation_timestamp_ms=model.get("creation_timestamp"),
            last_updated_timestamp_ms=model.get("last_updated_timestamp"),
            status=logged_model_status(model),
            lifecycle_stage=model.get("lifecycle_stage"),
            model_type=model.get("model_type"),
            source_run_id=model.get("source_run_id"),
            status_message=model.get("status_message"),
        )
        for param in model.get("params", []):
            out["logged_model_params"].add(
                model_id=model_id, experiment_id=eid, param_key=param["k"], param_value=param["v"]
            )
        for tag in model.get("tags", []):
            out["logged_model_tags"].add(
                model_id=model_id, experiment_id=eid, tag_key=tag["k"], tag_value=tag["v"]
            )
    model_ids = [m["_id"] for m in models]
    for chunk in chunks(model_ids):
        for point in db[layout.RUN_METRICS].find({"model_id": {"$in": chunk}}):
            extra = (point.get(EXTRA) or {}).get("model_metric") or {}
            out["logged_model_metrics"].add(
                model_id=point["model_id"],
                metric_name=point["k"],
                metric_timestamp_ms=point["timestamp"],
                metric_step=point["step"],
                metric_value=point["v"],
                experiment_id=eid,
                run_id=point.get("run_id"),
                dataset_uuid=extra.get("dataset_uuid"),
                dataset_name=point.get("dataset_name"),
                dataset_digest=point.get("dataset_digest"),
            )
    for table in ("logged_models", "logged_model_params", "logged_model_tags", "logged_model_metrics"):
        for row in aside.get(table, []):
            out[table].add(**{**row, **({"experiment_id": eid} if "experiment_id" in row else {})})
        yield from _batch(table, out[table])

    trace_time: dict[str, Any] = {}
    for trace in db[layout.TRACES].find({"experiment_id": key}):
        trace_id = trace["_id"]
        trace_time[trace_id] = trace.get("request_time")
        info, tags, metadata = trace_columns(trace)
        out["trace_info"].add(
            request_id=trace_id,
            experiment_id=eid,
            timestamp_ms=trace.get("request_time"),
            execution_time_ms=trace.get("execution_duration"),
            status=trace.get("state"),
            client_request_id=trace.get("client_request_id"),
            request_preview=trace.get("request_preview"),
            response_preview=trace.get("response_preview"),
            **info,
        )
        for tag_key, tag_value in tags.items():
            out["trace_tags"].add(key=tag_key, value=tag_value, request_id=trace_id)
        for meta_key, meta_value in metadata.items():
            out["trace_request_metadata"].add(key=meta_key, value=meta_value, request_id=trace_id)
    for assessment in db[layout.ASSESSMENTS].find({"experiment_id": key}):
        out["assessments"].add(**assessment_row(assessment, eid, trace_time.get(assessment["trace_id"])))
    for table in ("trace_info", "trace_tags", "trace_request_metadata", "assessments"):
        for row in aside.get(table, []):
            out[table].add(**{**row, **({"experiment_id": eid} if "experiment_id" in row else {})})
        yield from _batch(table, out[table])
    for table in ("params", "tags", "latest_metrics"):  # rows whose run was not in the unit
        extra_rows = Columns(TABLES[table].columns)
        for row in aside.get(table, []):
            extra_rows.add(**row)
        yield from _batch(table, extra_rows)


def _read_inputs(run: dict[str, Any], eid: int | None, out: dict[str, Columns], seen: set[str]) -> None:
    """Datasets, inputs and input tags embedded in a run document."""
    run_id = run["_id"]
    inputs = run.get("inputs") or {}
    for entry in inputs.get("datasets", []):
        dataset = entry["dataset"]
        extra = entry.get(EXTRA) or {}
        dataset_uuid = (
            extra.get("dataset_uuid")
            or uuid.uuid5(uuid.NAMESPACE_URL, f"{eid}/{dataset['name']}/{dataset['digest']}").hex
        )
        input_uuid = extra.get("input_uuid") or uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{dataset_uuid}").hex
        if dataset_uuid not in seen:
            seen.add(dataset_uuid)
            out["datasets"].add(
                dataset_uuid=dataset_uuid,
                experiment_id=eid,
                name=dataset["name"],
                digest=dataset["digest"],
                dataset_source_type=dataset.get("source_type"),
                dataset_source=dataset.get("source"),
                dataset_schema=dataset.get("schema"),
                dataset_profile=dataset.get("profile"),
            )
        _add_input(out, input_uuid, "DATASET", dataset_uuid, "RUN", run_id, extra.get("step", 0), entry)
    for entry in inputs.get("models", []):
        extra = entry.get(EXTRA) or {}
        input_uuid = (
            extra.get("input_uuid") or uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/in/{entry['model_id']}").hex
        )
        _add_input(
            out,
            input_uuid,
            "RUN_INPUT",
            run_id,
            "MODEL_INPUT",
            entry["model_id"],
            extra.get("step", 0),
            entry,
        )
    for index, entry in enumerate(run.get("outputs") or []):
        extra = entry.get(EXTRA) or {}
        input_uuid = (
            extra.get("input_uuid")
            or uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/out/{entry['model_id']}/{index}").hex
        )
        _add_input(
            out,
            input_uuid,
            "RUN_OUTPUT",
            run_id,
            "MODEL_OUTPUT",
            entry["model_id"],
            entry.get("step"),
            entry,
        )


def _add_input(
    out: dict[str, Columns],
    input_uuid: str,
    source_type: str,
    source_id: str,
    destination_type: str,
    destination_id: str,
    step: Any,
    entry: dict[str, Any],
) -> None:
    out["inputs"].add(
        input_uuid=input_uuid,
        source_type=source_type,
        source_id=source_id,
        destination_type=destination_type,
        destination_id=destination_id,
        step=step,
    )
    for tag in entry.get("tags", []):
        out["input_tags"].add(input_uuid=input_uuid, name=tag["k"], value=tag["v"])


def _read_metrics(db: Any, run_ids: list[str]) -> BatchStream:
    """Metric points of the runs, in batches (points only a logged model holds are left out)."""
    projection = {"_id": 0, "k": 1, "v": 1, "timestamp": 1, "step": 1, "run_id": 1, f"{EXTRA}.history": 1}
    columns = Columns(TABLES["metrics"].columns)
    for chunk in chunks(run_ids):
        for point in db[layout.RUN_METRICS].find({"run_id": {"$in": chunk}}, projection):
            extra = point.get(EXTRA)
            if extra is not None and extra.get("history") is False:
                continue
            value, is_nan = split_value(point["v"])
            columns.add(
                key=point["k"],
                value=value,
                timestamp=point["timestamp"],
                run_uuid=point["run_id"],
                step=point["step"],
                is_nan=is_nan,
            )
            if len(columns) >= READ_BATCH:
                yield from _batch("metrics", columns)
                columns = Columns(TABLES["metrics"].columns)
    yield from _batch("metrics", columns)


def read_registered_model(db: Any, name: str) -> BatchStream:
    """All canonical rows of registered model ``name`` from its documents."""
    model = db[layout.REGISTERED_MODELS].find_one({"name": name})
    if model is None:
        return
    workspace = (model.get(EXTRA) or {}).get("workspace", "default")
    out = {n: Columns(TABLES[n].columns) for n in TABLES if TABLES[n].unit_kind == REGISTERED_MODEL}
    out["registered_models"].add(
        name=name,
        creation_time=model.get("creation_timestamp"),
        last_updated_time=model.get("last_updated_timestamp"),
        description=model.get("description"),
        workspace=workspace,
    )
    for tag in model.get("tags", []):
        out["registered_model_tags"].add(key=tag["key"], value=tag["value"], name=name, workspace=workspace)
    # ``$in`` rather than equality: nx-27017 does not match an ObjectId by equality
    for version in db[layout.MODEL_VERSIONS].find({"registered_model_id": {"$in": [model["_id"]]}}):
        number = int(version["version"])
        out["model_versions"].add(
            name=name,
            version=number,
            creation_time=version.get("creation_timestamp"),
            last_updated_time=version.get("last_updated_timestamp"),
            description=version.get("description"),
            user_id=version.get("user_id"),
            current_stage=version.get("current_stage"),
            source=version.get("source"),
            run_id=version.get("run_id"),
            status=version.get("status"),
            status_message=version.get("status_message"),
            run_link=version.get("run_link"),
            storage_location=version.get("storage_location"),
            workspace=(version.get(EXTRA) or {}).get("workspace", workspace),
        )
        for tag in version.get("tags", []):
            out["model_version_tags"].add(
                key=tag["key"], value=tag["value"], name=name, version=number, workspace=workspace
            )
    for alias in model.get("aliases", []):
        out["registered_model_aliases"].add(
            alias=alias["alias"], version=int(alias["version"]), name=name, workspace=workspace
        )
    for table in out:
        yield from _batch(table, out[table])
