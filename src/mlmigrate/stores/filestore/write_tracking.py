"""Write one experiment's canonical rows as an MLflow FileStore experiment folder.

The layout is MLflow 3.17's: ``meta.yaml`` and ``tags/`` of the experiment, one
folder per run (``meta.yaml``, ``params/``, ``tags/``, ``metrics/``, ``artifacts/``,
``inputs/``, ``outputs/``), ``datasets/``, ``models/`` (logged models) and
``traces/``. Ids that the FileStore derives from names (dataset and input folders)
are derived the same way; a dataset or input uuid that the reader would not derive
again is kept in its ``meta.yaml`` (MLflow ignores the extra key), so a copy back
into a database keeps it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.filestore.latest_order import agree_with
from mlmigrate.stores.filestore.metric_text import grouped_lines, metric_values
from mlmigrate.stores.filestore.tracking import RUN_STATUS, SOURCE_TYPE, stable_uuid
from mlmigrate.stores.filestore.write_files import (
    append_bytes,
    columns,
    make_dirs,
    safe_child,
    write_key_files,
    write_yaml,
)
from mlmigrate.stores.filestore.write_traces import TraceWriter

_STATUS_NUMBER = {name: number for number, name in RUN_STATUS.items()}
_SOURCE_NUMBER = {name: number for number, name in SOURCE_TYPE.items()}


def md5_hex(*parts: str) -> str:
    """MLflow's FileStore folder ids: md5 over the parts' UTF-8 bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


class ExperimentWriter:
    """Receives an experiment unit's batches and writes them under ``folder`` (a staging folder)."""

    def __init__(self, folder: Path, experiment_id: str):
        self.folder = folder
        self.experiment_id = experiment_id
        self.meta: dict[str, Any] | None = None
        self.tags: dict[str, str] = {}
        self.runs: set[str] = set()
        self.datasets: dict[str, str] = {}  # dataset uuid -> folder name
        self.inputs: list[dict[str, Any]] = []
        self.input_tags: dict[str, dict[str, str]] = defaultdict(dict)
        self.models: set[str] = set()
        self.latest: list[pa.RecordBatch] = []
        self.traces = TraceWriter(folder / "traces", experiment_id)
        make_dirs(folder)

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        """Write (or, for rows that complete others, keep) one batch."""
        if batch.num_rows == 0:
            return
        handler = getattr(self, f"_{table}", None)
        if handler is None:
            raise StoreError(f"a FileStore experiment cannot hold {table} rows")
        handler(batch)

    def _experiments(self, batch: pa.RecordBatch) -> None:
        row = batch.slice(0, 1).to_pylist()[0]
        self.meta = {
            "artifact_location": row["artifact_location"],
            "creation_time": row["creation_time"],
            "effective_trace_archival_retention": None,
            "experiment_id": self.experiment_id,
            "last_update_time": row["last_update_time"],
            "lifecycle_stage": row["lifecycle_stage"] or "active",
            "name": row["name"],
            "trace_location": None,
            "workspace": row["workspace"] or "default",
        }

    def _experiment_tags(self, batch: pa.RecordBatch) -> None:
        keys, values = columns(batch, "key", "value")
        write_key_files(self.folder / "tags", keys, values, "experiment tag")
        self.tags.update(zip(keys, ["" if v is None else v for v in values], strict=True))

    def _runs(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            run_id = row["run_uuid"]
            run_dir = safe_child(self.folder, run_id, "run id")
            make_dirs(run_dir / "metrics", run_dir / "params", run_dir / "artifacts")
            status = row["status"]
            source_type = row["source_type"]
            write_yaml(
                run_dir / "meta.yaml",
                {
                    "artifact_uri": row["artifact_uri"],
                    "end_time": row["end_time"],
                    "entry_point_name": row["entry_point_name"] or "",
                    "experiment_id": self.experiment_id,
                    "lifecycle_stage": row["lifecycle_stage"] or "active",
                    "run_id": run_id,
                    "run_name": row["name"],
                    "source_name": row["source_name"] or "",
                    "source_type": _SOURCE_NUMBER.get(source_type or "LOCAL", 4),
                    "source_version": row["source_version"] or "",
                    "start_time": row["start_time"],
                    "status": _STATUS_NUMBER.get(status, status),
                    "tags": [],
                    "user_id": row["user_id"],
                    "deleted_time": row["deleted_time"],
                },
            )
            self.runs.add(run_id)

    def _run_dir(self, run_id: str) -> Path:
        if run_id not in self.runs:
            raise StoreError(f"rows of run {run_id} arrived without the run")
        return self.folder / run_id

    def _key_values(self, batch: pa.RecordBatch, sub: str, what: str) -> None:
        keys, values, run_ids = columns(batch, "key", "value", "run_uuid")
        by_run: dict[str, tuple[list[str], list[Any]]] = defaultdict(lambda: ([], []))
        for key, value, run_id in zip(keys, values, run_ids, strict=True):
            by_run[run_id][0].append(key)
            by_run[run_id][1].append(value)
        for run_id, (run_keys, run_values) in by_run.items():
            write_key_files(self._run_dir(run_id) / sub, run_keys, run_values, what)

    def _params(self, batch: pa.RecordBatch) -> None:
        self._key_values(batch, "params", "param")

    def _tags(self, batch: pa.RecordBatch) -> None:
        self._key_values(batch, "tags", "tag")

    def _metrics(self, batch: pa.RecordBatch) -> None:
        values = metric_values(batch.column("value"), batch.column("is_nan"))
        fields = [
            pc.cast(batch.column("timestamp"), pa.string()),
            values,
            pc.cast(batch.column("step"), pa.string()),
        ]
        for run_id, key, text in grouped_lines(batch.column("run_uuid"), batch.column("key"), fields):
            append_bytes(safe_child(self._run_dir(run_id) / "metrics", key, "metric"), text)

    def _latest_metrics(self, batch: pa.RecordBatch) -> None:
        """The FileStore keeps no latest values: MLflow (and the reader) derive them from the
        points. Kept until the end, when the files are made to agree with them."""
        self.latest.append(batch)

    def _datasets(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            folder = md5_hex(row["name"], row["digest"])
            meta = {
                "digest": row["digest"],
                "name": row["name"],
                "profile": row["dataset_profile"],
                "schema": row["dataset_schema"],
                "source": row["dataset_source"],
                "source_type": row["dataset_source_type"],
            }
            if row["dataset_uuid"] != stable_uuid(self.experiment_id, "dataset", folder):
                meta["dataset_uuid"] = row["dataset_uuid"]
            write_yaml(self.folder / "datasets" / folder / "meta.yaml", meta)
            self.datasets[row["dataset_uuid"]] = folder

    def _inputs(self, batch: pa.RecordBatch) -> None:
        self.inputs += batch.to_pylist()

    def _input_tags(self, batch: pa.RecordBatch) -> None:
        for input_uuid, name, value in zip(*columns(batch, "input_uuid", "name", "value"), strict=True):
            self.input_tags[input_uuid][name] = value

    def _logged_models(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            model_id = row["model_id"]
            model_dir = safe_child(self.folder / "models", model_id, "logged model id")
            make_dirs(model_dir / "metrics", model_dir / "params", model_dir / "tags")
            meta = {
                "artifact_location": row["artifact_location"],
                "creation_timestamp": row["creation_timestamp_ms"],
                "experiment_id": self.experiment_id,
                "last_updated_timestamp": row["last_updated_timestamp_ms"],
                "model_id": model_id,
                "model_type": row["model_type"],
                "name": row["name"],
                "source_run_id": row["source_run_id"],
                "status": row["status"],
                "status_message": row["status_message"],
            }
            if (row["lifecycle_stage"] or "active") != "active":
                meta["lifecycle_stage"] = row["lifecycle_stage"]
            write_yaml(model_dir / "meta.yaml", meta)
            self.models.add(model_id)

    def _model_dir(self, model_id: str) -> Path:
        if model_id not in self.models:
            raise StoreError(f"rows of logged model {model_id} arrived without the model")
        return self.folder / "models" / model_id

    def _logged_model_params(self, batch: pa.RecordBatch) -> None:
        self._model_key_values(batch, "params", "param_key", "param_value")

    def _logged_model_tags(self, batch: pa.RecordBatch) -> None:
        self._model_key_values(batch, "tags", "tag_key", "tag_value")

    def _model_key_values(self, batch: pa.RecordBatch, sub: str, key_column: str, value_column: str) -> None:
        grouped: dict[str, tuple[list[str], list[Any]]] = defaultdict(lambda: ([], []))
        for model_id, key, value in zip(*columns(batch, "model_id", key_column, value_column), strict=True):
            grouped[model_id][0].append(key)
            grouped[model_id][1].append(value)
        for model_id, (keys, values) in grouped.items():
            write_key_files(self._model_dir(model_id) / sub, keys, values, f"logged model {sub[:-1]}")

    def _logged_model_metrics(self, batch: pa.RecordBatch) -> None:
        run_id = pc.fill_null(batch.column("run_id"), "")
        name, digest = batch.column("dataset_name"), batch.column("dataset_digest")
        with_dataset = pc.and_(pc.is_valid(name), pc.is_valid(digest))
        owner = pc.if_else(with_dataset, pc.binary_join_element_wise(run_id, name, digest, " "), run_id)
        fields = [
            pc.cast(batch.column("metric_timestamp_ms"), pa.string()),
            metric_values(batch.column("metric_value"), None),
            pc.cast(batch.column("metric_step"), pa.string()),
            owner,
        ]
        for model_id, key, text in grouped_lines(
            batch.column("model_id"), batch.column("metric_name"), fields
        ):
            append_bytes(safe_child(self._model_dir(model_id) / "metrics", key, "metric"), text)

    def _trace_info(self, batch: pa.RecordBatch) -> None:
        self.traces.add_info(batch)

    def _trace_tags(self, batch: pa.RecordBatch) -> None:
        self.traces.add_tags(batch)

    def _trace_request_metadata(self, batch: pa.RecordBatch) -> None:
        self.traces.add_metadata(batch)

    def _assessments(self, batch: pa.RecordBatch) -> None:
        self.traces.add_assessments(batch)

    def finish(self) -> None:
        """Write what waited for later rows: the experiment's meta, inputs with their tags, traces;
        and make each metric file's own latest point the source's (:mod:`.latest_order`)."""
        agree_with(
            self.latest, lambda run_id, key: safe_child(self._run_dir(run_id) / "metrics", key, "metric")
        )
        if self.meta is not None:
            meta = dict(self.meta)
            if meta["lifecycle_stage"] == "deleted":  # delete_experiment keeps the tags inline too
                meta["tags"] = dict(self.tags)
            write_yaml(self.folder / "meta.yaml", meta)
        for row in self.inputs:
            self._write_input(row)
        self.traces.finish()

    def _write_input(self, row: dict[str, Any]) -> None:
        tags = self.input_tags.get(row["input_uuid"], {})
        source_type, destination_type = row["source_type"], row["destination_type"]
        if source_type == "DATASET" and destination_type == "RUN":
            run_id = row["destination_id"]
            dataset = self.datasets.get(row["source_id"])
            if dataset is None:
                raise StoreError(
                    f"input {row['input_uuid']} refers to dataset {row['source_id']}, not in the unit"
                )
            name = md5_hex(dataset, run_id)
            path = self._run_dir(run_id) / "inputs" / name / "meta.yaml"
            meta: dict[str, Any] = {
                "destination_id": dataset,  # MLflow writes the source id here (its bug, kept)
                "destination_type": "RUN",
                "source_id": dataset,
                "source_type": "DATASET",
                "tags": tags,
            }
            derived = stable_uuid(run_id, "input", name)
        elif source_type == "RUN_INPUT" and destination_type == "MODEL_INPUT":
            run_id, model_id = row["source_id"], row["destination_id"]
            name = md5_hex(model_id, run_id)
            path = self._run_dir(run_id) / "inputs" / name / "meta.yaml"
            meta = {
                "destination_id": model_id,
                "destination_type": "RUN",
                "source_id": model_id,
                "source_type": "MODEL",
                "tags": tags,
            }
            derived = stable_uuid(run_id, "input", name)
        elif source_type == "RUN_OUTPUT" and destination_type == "MODEL_OUTPUT":
            run_id, model_id = row["source_id"], row["destination_id"]
            name = model_id
            path = safe_child(self._run_dir(run_id) / "outputs", name, "logged model id") / "meta.yaml"
            meta = {
                "destination_id": model_id,
                "destination_type": "MODEL_OUTPUT",
                "source_id": model_id,
                "source_type": "RUN_OUTPUT",
                "step": row["step"] or 0,
                "tags": tags,
            }
            derived = stable_uuid(run_id, "output", name)
        else:
            raise StoreError(
                f"input {row['input_uuid']} ({source_type} -> {destination_type}) has no FileStore form"
            )
        if row["input_uuid"] != derived:
            meta["input_uuid"] = row["input_uuid"]
        write_yaml(path, meta)
