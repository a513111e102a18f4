"""Canonical rows → the plugin's documents, one unit at a time.

A unit's stream arrives parents first (tables.py order). Metric points go out as they
come (they are most of the rows); everything a document embeds (tags, params, latest
metrics, inputs, aliases …) is gathered until the unit's stream ends, then its
documents are built. Rows of a unit the plugin has no place for are kept verbatim in
the experiment document's ``mlmigrate.rows`` and counted in ``kept_aside``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from mlmigrate.stores.mongodb.layout import EXTRA, experiment_key, object_id
from mlmigrate.stores.trace_analytics import COST_COLUMNS, TOKEN_COLUMNS

TRACE_NAME_TAG = "mlflow.traceName"
_TRACE_ANALYTICS = ("session_id", *TOKEN_COLUMNS, *COST_COLUMNS)


def columns(batch: pa.RecordBatch) -> dict[str, list[Any]]:
    """The batch as Python lists per column (one conversion per column, not per row)."""
    return {name: batch.column(i).to_pylist() for i, name in enumerate(batch.schema.names)}


def rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch as one dict per row."""
    return batch.to_pylist()


def metric_value(value: float | None, is_nan: bool | None) -> float | None:
    """SQL keeps NaN as ``value=0, is_nan=true``; the plugin stores the BSON double NaN."""
    return math.nan if is_nan else value


def metric_documents(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """``run_metrics`` documents of a ``metrics`` batch, fields in the plugin's order."""
    data = columns(batch)
    return [
        {
            "k": key,
            "v": math.nan if is_nan else value,
            "timestamp": timestamp,
            "step": step,
            "model_id": None,
            "dataset_name": None,
            "dataset_digest": None,
            "run_id": run_id,
        }
        for key, value, timestamp, step, is_nan, run_id in zip(
            data["key"],
            data["value"],
            data["timestamp"],
            data["step"],
            data["is_nan"],
            data["run_uuid"],
            strict=True,
        )
    ]


@dataclass
class ExperimentDocuments:
    """Everything of one experiment unit except the metric points, gathered as it streams."""

    experiment_id: str
    experiment: dict[str, Any] | None = None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    input_tags: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    input_tag_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logged_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_metrics: list[dict[str, Any]] = field(default_factory=list)
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    trace_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    kept_aside: Counter[str] = field(default_factory=Counter)
    aside: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        """Fold a batch of ``table`` (anything but ``metrics``) in."""
        getattr(self, f"_add_{table}")(rows(batch))

    def _add_experiments(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            self.experiment = {
                "_id": self.experiment_id,
                "name": row["name"],
                "artifact_location": row["artifact_location"],
                "lifecycle_stage": row["lifecycle_stage"],
                "creation_time": row["creation_time"],
                "last_update_time": row["last_update_time"],
                "tags": [],
                EXTRA: {"workspace": row["workspace"]},
            }

    def _add_experiment_tags(self, items: list[dict[str, Any]]) -> None:
        assert self.experiment is not None, "experiment tags before their experiment"
        self.experiment["tags"] += [{"k": row["key"], "v": row["value"]} for row in items]

    def _add_runs(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            self.runs[row["run_uuid"]] = {
                "_id": row["run_uuid"],
                "experiment_id": self.experiment_id,
                "name": row["name"],
                "artifact_uri": row["artifact_uri"],
                "user_id": row["user_id"],
                "status": row["status"],
                "start_time": row["start_time"],
                "end_time": row["end_time"],
                "lifecycle_stage": row["lifecycle_stage"],
                "deleted_time": row["deleted_time"],
                "tags": [],
                "params": [],
                "metrics": [],
                "inputs": {"datasets": [], "models": []},
                "outputs": [],
                EXTRA: {
                    "source_type": row["source_type"],
                    "source_name": row["source_name"],
                    "entry_point_name": row["entry_point_name"],
                    "source_version": row["source_version"],
                },
            }

    def _run(self, table: str, row: dict[str, Any], run_id: str) -> dict[str, Any] | None:
        run = self.runs.get(run_id)
        if run is None:  # a row whose run is not in this unit: keep it aside
            self._aside(table, row)
        return run

    def _aside(self, table: str, row: dict[str, Any]) -> None:
        self.aside.setdefault(table, []).append(row)
        self.kept_aside[table] += 1

    def _add_params(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if run := self._run("params", row, row["run_uuid"]):
                run["params"].append({"k": row["key"], "v": row["value"]})

    def _add_tags(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if run := self._run("tags", row, row["run_uuid"]):
                run["tags"].append({"k": row["key"], "v": row["value"]})

    def _add_latest_metrics(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if run := self._run("latest_metrics", row, row["run_uuid"]):
                run["metrics"].append(
                    {
                        "k": row["key"],
                        "v": metric_value(row["value"], row["is_nan"]),
                        "timestamp": row["timestamp"],
                        "step": row["step"],
                        "model_id": None,
                        "dataset_name": None,
                        "dataset_digest": None,
                    }
                )

    def _add_datasets(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            self.datasets[row["dataset_uuid"]] = row

    def _add_inputs(self, items: list[dict[str, Any]]) -> None:
        self.inputs += items

    def _add_input_tags(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            self.input_tags.setdefault(row["input_uuid"], []).append({"k": row["name"], "v": row["value"]})
            self.input_tag_rows.setdefault(row["input_uuid"], []).append(row)

    def _add_logged_models(self, items: list[dict[str, Any]]) -> None:
        from mlflow.entities.logged_model_status import LoggedModelStatus

        for row in items:
            status = row["status"]
            try:
                status_name = LoggedModelStatus.from_int(status).value if status is not None else None
            except Exception:  # an unknown number: keep it, the plugin shows it as it is
                status_name = status
            self.logged_models[row["model_id"]] = {
                "_id": row["model_id"],
                "experiment_id": self.experiment_id,
                "name": row["name"],
                "artifact_location": row["artifact_location"],
                "creation_timestamp": row["creation_timestamp_ms"],
                "last_updated_timestamp": row["last_updated_timestamp_ms"],
                "status": status_name,
                "status_message": row["status_message"],
                "lifecycle_stage": row["lifecycle_stage"],
                "source_run_id": row["source_run_id"],
                "model_type": row["model_type"],
                "tags": [],
                "params": [],
                EXTRA: {"status": status},
            }

    def _model(self, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
        model = self.logged_models.get(row["model_id"])
        if model is None:
            self._aside(table, row)
        return model

    def _add_logged_model_params(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if model := self._model("logged_model_params", row):
                model["params"].append({"k": row["param_key"], "v": row["param_value"]})

    def _add_logged_model_tags(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if model := self._model("logged_model_tags", row):
                model["tags"].append({"k": row["tag_key"], "v": row["tag_value"]})

    def _add_logged_model_metrics(self, items: list[dict[str, Any]]) -> None:
        self.model_metrics += items

    def _add_trace_info(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            self.trace_rows[row["request_id"]] = row
            self.traces[row["request_id"]] = {
                "_id": row["request_id"],
                "experiment_id": self.experiment_id,
                "request_time": row["timestamp_ms"],
                "state": row["status"],
                "execution_duration": row["execution_time_ms"],
                "client_request_id": row["client_request_id"],
                "request_preview": row["request_preview"],
                "response_preview": row["response_preview"],
                "run_ids": [],
                "trace_info_finalized": True,
                "authoritative_metadata_keys": [],
                "tags": [],
                "trace_metadata": [],
            }

    def _trace(self, table: str, row: dict[str, Any], trace_id: str) -> dict[str, Any] | None:
        trace = self.traces.get(trace_id)
        if trace is None:
            self._aside(table, row)
        return trace

    def _add_trace_tags(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if trace := self._trace("trace_tags", row, row["request_id"]):
                trace["tags"].append({"k": row["key"], "v": row["value"]})

    def _add_trace_request_metadata(self, items: list[dict[str, Any]]) -> None:
        for row in items:
            if trace := self._trace("trace_request_metadata", row, row["request_id"]):
                trace["trace_metadata"].append({"k": row["key"], "v": row["value"]})

    def _add_assessments(self, items: list[dict[str, Any]]) -> None:
        self.assessments += items

    def finish(self) -> dict[str, list[dict[str, Any]]]:
        """The unit's documents per collection (metric points aside), once its stream ended."""
        self._attach_inputs()
        traces = [self._finish_trace(trace) for trace in self.traces.values()]
        assessments = [self._assessment_document(row) for row in self.assessments]
        experiment = self.experiment
        if experiment is None:
            raise ValueError(f"experiment {self.experiment_id} has no experiments row")
        if self.aside:
            experiment[EXTRA]["rows"] = self.aside
        return {
            "experiments": [experiment],
            "runs": list(self.runs.values()),
            "logged_models": list(self.logged_models.values()),
            "traces": traces,
            "assessments": assessments,
        }

    def _attach_inputs(self) -> None:
        """Dataset inputs, model inputs and model outputs into their runs, as the plugin embeds them."""
        used: set[str] = set()
        for row in self.inputs:
            uuid = row["input_uuid"]
            tags = self.input_tags.pop(uuid, [])
            tag_rows = self.input_tag_rows.pop(uuid, [])
            extra = {"input_uuid": uuid, "step": row["step"]}
            kind = (row["source_type"], row["destination_type"])
            if kind == ("DATASET", "RUN") and row["destination_id"] in self.runs:
                dataset = self.datasets.get(row["source_id"])
                if dataset is not None:
                    used.add(row["source_id"])
                    self.runs[row["destination_id"]]["inputs"]["datasets"].append(
                        {
                            "dataset": {
                                "name": dataset["name"],
                                "digest": dataset["digest"],
                                "source_type": dataset["dataset_source_type"],
                                "source": dataset["dataset_source"],
                                "schema": dataset["dataset_schema"],
                                "profile": dataset["dataset_profile"],
                            },
                            "tags": tags,
                            EXTRA: {**extra, "dataset_uuid": dataset["dataset_uuid"]},
                        }
                    )
                    continue
            elif kind == ("RUN_INPUT", "MODEL_INPUT") and row["source_id"] in self.runs:
                self.runs[row["source_id"]]["inputs"]["models"].append(
                    {"model_id": row["destination_id"], "tags": tags, EXTRA: extra}
                )
                continue
            elif kind == ("RUN_OUTPUT", "MODEL_OUTPUT") and row["source_id"] in self.runs:
                self.runs[row["source_id"]]["outputs"].append(
                    {"model_id": row["destination_id"], "step": row["step"], "tags": tags, EXTRA: extra}
                )
                continue
            self._aside("inputs", row)
            for tag_row in tag_rows:
                self._aside("input_tags", tag_row)
        for rest in self.input_tag_rows.values():
            for tag_row in rest:
                self._aside("input_tags", tag_row)
        for uuid, dataset in self.datasets.items():
            if uuid not in used:
                self._aside("datasets", dataset)

    def _finish_trace(self, trace: dict[str, Any]) -> dict[str, Any]:
        """Tags and metadata as MLflow shows them (the trace name tag, promoted metadata)."""
        from mlflow.store.tracking.utils.trace_analytics import compatibility_metadata_from_columns

        row = self.trace_rows[trace["_id"]]
        added_tags: list[str] = []
        added_metadata: list[str] = []
        tag_keys = {tag["k"] for tag in trace["tags"]}
        if row["trace_name"] is not None and TRACE_NAME_TAG not in tag_keys:
            trace["tags"].append({"k": TRACE_NAME_TAG, "v": row["trace_name"]})
            added_tags.append(TRACE_NAME_TAG)
        metadata_keys = {item["k"] for item in trace["trace_metadata"]}

        class _Columns:
            pass

        holder = _Columns()
        for name in _TRACE_ANALYTICS:
            setattr(holder, name, row[name])
        for key, value in compatibility_metadata_from_columns(holder).items():
            if key not in metadata_keys:
                trace["trace_metadata"].append({"k": key, "v": value})
                added_metadata.append(key)
        metadata = {item["k"]: item["v"] for item in trace["trace_metadata"]}
        trace["authoritative_metadata_keys"] = list(metadata)
        source_run = metadata.get("mlflow.sourceRun")
        trace["run_ids"] = [source_run] if source_run else []
        trace[EXTRA] = {
            "trace_info": {
                name: row[name] for name in ("trace_name", "db_payload_generation", *_TRACE_ANALYTICS)
            },
            "added_tags": added_tags,
            "added_metadata": added_metadata,
        }
        return trace

    def _assessment_document(self, row: dict[str, Any]) -> dict[str, Any]:
        """An assessment as the plugin stores it: MLflow's dictionary form in ``content``."""
        from mlflow.store.tracking.dbmodels.models import SqlAssessments

        content: dict[str, Any]
        try:
            fields = {k: v for k, v in row.items() if hasattr(SqlAssessments, k)}
            entity = SqlAssessments(**fields).to_mlflow_entity()
            content = entity.to_dictionary()
            if entity.expectation is not None:
                content["expectation"] = {"value": entity.expectation.value}
            elif entity.feedback is not None and "feedback" in content:
                content["feedback"]["value"] = entity.feedback.value
            if entity.run_id is not None:
                content["run_id"] = entity.run_id
            content["trace_id"] = row["trace_id"]
        except Exception:  # not expressible as an MLflow entity: the row below still is kept
            content = {"assessment_id": row["assessment_id"], "trace_id": row["trace_id"]}
        return {
            "trace_id": row["trace_id"],
            "experiment_id": self.experiment_id,
            "assessment_id": row["assessment_id"],
            "content": content,
            EXTRA: {"row": {k: v for k, v in row.items() if k != "experiment_id"}},
        }


def model_metric_upserts(items: list[dict[str, Any]]) -> list[Any]:
    """Logged-model metric points as upserts on ``run_metrics``: a point the run also logged
    gains its ``model_id`` (one document, as the plugin writes it); any other is added and
    marked as not in the run's history."""
    from pymongo import UpdateOne

    requests = []
    for row in items:
        value = row["metric_value"]
        requests.append(
            UpdateOne(
                {
                    "run_id": row["run_id"],
                    "k": row["metric_name"],
                    "timestamp": row["metric_timestamp_ms"],
                    "step": row["metric_step"],
                    "v": value,
                    "model_id": None,
                },
                {
                    "$set": {
                        "model_id": row["model_id"],
                        "dataset_name": row["dataset_name"],
                        "dataset_digest": row["dataset_digest"],
                        f"{EXTRA}.model_metric": {"dataset_uuid": row["dataset_uuid"]},
                    },
                    "$setOnInsert": {f"{EXTRA}.history": False},
                },
                upsert=True,
            )
        )
    return requests


def registered_model_documents(
    name: str, gathered: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The registered model document (tags and aliases embedded) and its version documents."""
    (model_row,) = gathered.get("registered_models", [])
    model_id = object_id("registered_model", name)
    versions = gathered.get("model_versions", [])
    version_tags: dict[int, list[dict[str, Any]]] = {}
    for row in gathered.get("model_version_tags", []):
        version_tags.setdefault(row["version"], []).append({"key": row["key"], "value": row["value"]})
    model = {
        "_id": model_id,
        "name": name,
        "creation_timestamp": model_row["creation_time"],
        "last_updated_timestamp": model_row["last_updated_time"],
        "description": model_row["description"],
        "tags": [
            {"key": row["key"], "value": row["value"]} for row in gathered.get("registered_model_tags", [])
        ],
        "aliases": [
            {"alias": row["alias"], "version": row["version"]}
            for row in gathered.get("registered_model_aliases", [])
        ],
        "deployment_job_id": None,
        "version_counter": max((row["version"] for row in versions), default=0),
        EXTRA: {"workspace": model_row["workspace"]},
    }
    documents = [
        {
            "_id": object_id("model_version", name, str(row["version"])),
            "registered_model_id": model_id,
            "version": row["version"],
            "creation_timestamp": row["creation_time"],
            "last_updated_timestamp": row["last_updated_time"],
            "description": row["description"],
            "user_id": row["user_id"],
            "current_stage": row["current_stage"],
            "source": row["source"],
            "storage_location": row["storage_location"],
            "run_id": row["run_id"],
            "run_link": row["run_link"],
            "status": row["status"],
            "status_message": row["status_message"],
            "tags": version_tags.get(row["version"], []),
            "model_id": None,
            EXTRA: {"workspace": row["workspace"]},
        }
        for row in versions
    ]
    return model, documents


__all__ = [
    "ExperimentDocuments",
    "experiment_key",
    "metric_documents",
    "model_metric_upserts",
    "registered_model_documents",
]
