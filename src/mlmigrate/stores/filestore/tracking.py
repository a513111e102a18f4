"""Read one FileStore experiment folder as canonical record batches."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.filestore.files import (
    key_files_as_dict,
    key_paths,
    read_key_files,
    read_text,
    read_yaml,
    require,
    subfolders,
)
from mlmigrate.stores.filestore.metric_lines import (
    MetricFile,
    latest_points,
    parse_model_metrics,
    parse_run_metrics,
)
from mlmigrate.stores.filestore.traces import read_traces
from mlmigrate.tables import TABLES, batch_from_columns, is_id

#: Folders inside an experiment that are not runs.
RESERVED = {"tags", "datasets", "traces", "models"}
#: Runs are batched until one of these is reached: batches big enough for bulk loads,
#: small enough that reading the next overlaps writing this one.
MAX_RUNS_PER_BATCH = 100
METRIC_CHARS_PER_BATCH = 1 << 20

RUN_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
SOURCE_TYPE = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 5: "UNKNOWN"}
#: Namespace for ids the FileStore does not keep (dataset and input uuids), made
#: deterministic so that a re-run writes the same rows.
ID_NAMESPACE = uuid.UUID("6f1d3f52-6a55-4e39-9d4c-3b1d7e0a8f11")


def stable_uuid(*parts: str) -> str:
    """A deterministic UUID for an object the FileStore stores without one."""
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(parts)))


def _int_or_none(value: Any, field: str, path: Path | str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SourceFormatError(f"field {field!r} is not an integer: {str(value)[:100]!r}", path=str(path))
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SourceFormatError(f"field {field!r} is not an integer: {value!r}", path=str(path)) from exc
    if not -(2**63) <= number < 2**63:
        raise SourceFormatError(
            f"field {field!r} is out of range for a 64-bit integer: {value!r}", path=str(path)
        )
    return number


def _enum(value: Any, names: dict[int, str], field: str, path: Path | str) -> str:
    if isinstance(value, str) and value in names.values():
        return value
    try:
        return names[int(value)]
    except (TypeError, ValueError, KeyError) as exc:
        valid = ", ".join(f"{k} ({v})" for k, v in names.items())
        raise SourceFormatError(f"{field} {value!r} is not one of {valid}", path=str(path)) from exc


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def experiment_batches(
    exp_dir: Path, exp_id: str, leave_out: frozenset[str] = frozenset(), *, in_trash: bool = False
) -> BatchStream:
    """Everything under one experiment folder, parents first, without the runs in ``leave_out``.

    An experiment ``in_trash`` (its folder in ``.trash``) is deleted whatever its ``meta.yaml``
    says: MLflow 1.x deleted an experiment by moving its folder there and left
    ``lifecycle_stage: active`` in it (MLflow lists only live folders as active)."""
    meta_path = exp_dir / "meta.yaml"
    if not is_id(exp_id):
        raise SourceFormatError(
            f"folder {exp_id!r} is not an experiment id (MLflow's are numbers); move it out of the store "
            "or skip it with --on-error skip",
            path=str(exp_dir),
        )
    meta = read_yaml(meta_path)
    meta_id = str(meta.get("experiment_id", exp_id))
    if meta_id != exp_id:
        raise SourceFormatError(
            f"experiment_id {meta_id!r} does not match its folder name {exp_id!r}", path=str(meta_path)
        )
    yield (
        "experiments",
        batch_from_columns(
            "experiments",
            {
                "experiment_id": [int(exp_id)],
                "name": [str(require(meta, "name", meta_path))],
                "artifact_location": [_str_or_none(meta.get("artifact_location"))],
                "lifecycle_stage": ["deleted" if in_trash else str(meta.get("lifecycle_stage") or "active")],
                "creation_time": [_int_or_none(meta.get("creation_time"), "creation_time", meta_path)],
                "last_update_time": [
                    _int_or_none(meta.get("last_update_time"), "last_update_time", meta_path)
                ],
                "workspace": [str(meta.get("workspace") or "default")],
            },
        ),
    )
    keys, values = read_key_files(exp_dir / "tags")
    if keys:
        yield (
            "experiment_tags",
            batch_from_columns(
                "experiment_tags", {"key": keys, "value": values, "experiment_id": [int(exp_id)] * len(keys)}
            ),
        )

    datasets = _dataset_uuids(exp_dir, exp_id)
    yield from _dataset_batches(exp_dir, exp_id, datasets)

    run_names = [name for name in subfolders(exp_dir) if name not in RESERVED and name not in leave_out]
    yield from _run_batches(exp_dir, exp_id, run_names, datasets)

    models = [name for name in subfolders(exp_dir / "models") if name not in leave_out]
    yield from _models_owned(_logged_model_batches(exp_dir, exp_id, models), exp_dir)
    yield from read_traces(exp_dir / "traces", exp_id)


def _dataset_uuids(exp_dir: Path, exp_id: str) -> dict[str, dict[str, Any]]:
    """Dataset folder name -> (uuid and metadata)."""
    found: dict[str, dict[str, Any]] = {}
    for name in subfolders(exp_dir / "datasets"):
        path = exp_dir / "datasets" / name / "meta.yaml"
        meta = read_yaml(path)
        meta["_uuid"] = str(meta.get("dataset_uuid") or stable_uuid(exp_id, "dataset", name))
        meta["_path"] = path
        found[name] = meta
    return found


def _dataset_batches(exp_dir: Path, exp_id: str, datasets: dict[str, dict[str, Any]]) -> BatchStream:
    if not datasets:
        return
    rows = list(datasets.values())
    yield (
        "datasets",
        batch_from_columns(
            "datasets",
            {
                "dataset_uuid": [m["_uuid"] for m in rows],
                "experiment_id": [int(exp_id)] * len(rows),
                "name": [str(require(m, "name", m["_path"])) for m in rows],
                "digest": [str(require(m, "digest", m["_path"])) for m in rows],
                "dataset_source_type": [str(require(m, "source_type", m["_path"])) for m in rows],
                "dataset_source": [str(require(m, "source", m["_path"])) for m in rows],
                "dataset_schema": [_str_or_none(m.get("schema")) for m in rows],
                "dataset_profile": [_str_or_none(m.get("profile")) for m in rows],
            },
        ),
    )


def _run_batches(
    exp_dir: Path, exp_id: str, run_names: list[str], datasets: dict[str, dict[str, Any]]
) -> BatchStream:
    """Runs with their params, tags, metrics and inputs, a chunk of runs at a time. A malformed
    file names the run it belongs to (:attr:`SourceFormatError.run_id`)."""
    chunk = _RunChunk()
    for name in run_names:
        try:
            chunk.add(exp_dir, exp_id, name, datasets)
        except SourceFormatError as exc:
            exc.run_id = exc.run_id or name
            raise
        if chunk.run_count >= MAX_RUNS_PER_BATCH or chunk.metric_chars >= METRIC_CHARS_PER_BATCH:
            yield from _owned(chunk.batches(), exp_dir)
            chunk = _RunChunk()
    if chunk.run_count:
        yield from _owned(chunk.batches(), exp_dir)


def _owned(stream: BatchStream, exp_dir: Path) -> BatchStream:
    """``stream``, its malformed files (metric lines, parsed a chunk of runs at once) naming the
    run folder they lie in."""
    try:
        yield from stream
    except SourceFormatError as exc:
        path = Path(exc.path) if exc.path is not None else None
        if exc.run_id is None and path is not None and path.is_relative_to(exp_dir):
            exc.run_id = path.relative_to(exp_dir).parts[0]
        raise


class _RunChunk:
    """Rows of a few runs, gathered until they are worth a batch."""

    def __init__(self) -> None:
        self.runs: dict[str, list[Any]] = {name: [] for name in TABLES["runs"].columns}
        self.params: dict[str, list[str]] = {"key": [], "value": [], "run_uuid": []}
        self.tags: dict[str, list[str]] = {"key": [], "value": [], "run_uuid": []}
        self.inputs: dict[str, list[Any]] = {name: [] for name in TABLES["inputs"].columns}
        self.input_tags: dict[str, list[str]] = {"input_uuid": [], "name": [], "value": []}
        self.metric_files: list[MetricFile] = []
        self.run_count = 0
        self.metric_chars = 0

    def add(self, exp_dir: Path, exp_id: str, name: str, datasets: dict[str, dict[str, Any]]) -> None:
        """Read one run folder into the chunk."""
        self.run_count += 1
        # paths as text: a run makes a dozen of them, and pathlib's joins cost more than the reads
        run_dir = os.path.join(exp_dir, name)
        meta_path = os.path.join(run_dir, "meta.yaml")
        if not os.path.isfile(meta_path):
            raise SourceFormatError(
                "run folder has no meta.yaml (a missing or partly deleted run?)", path=run_dir
            )
        meta = read_yaml(meta_path)
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or "")
        if run_id != name:
            raise SourceFormatError(
                f"run_id {run_id!r} does not match its folder name {name!r}", path=meta_path
            )
        run_tags = key_files_as_dict(os.path.join(run_dir, "tags"))
        run_name = meta.get("run_name") or meta.get("name") or run_tags.get("mlflow.runName")
        row = {
            "run_uuid": run_id,
            "name": _str_or_none(run_name),
            "source_type": _enum(meta.get("source_type", 4), SOURCE_TYPE, "source_type", meta_path),
            "source_name": _str_or_none(meta.get("source_name", "")),
            "entry_point_name": _str_or_none(meta.get("entry_point_name", "")),
            "user_id": _str_or_none(meta.get("user_id")),
            "status": _enum(require(meta, "status", meta_path), RUN_STATUS, "status", meta_path),
            "start_time": _int_or_none(meta.get("start_time"), "start_time", meta_path),
            "end_time": _int_or_none(meta.get("end_time"), "end_time", meta_path),
            "source_version": _str_or_none(meta.get("source_version", "")),
            "lifecycle_stage": str(meta.get("lifecycle_stage") or "active"),
            "artifact_uri": _str_or_none(meta.get("artifact_uri")),
            "experiment_id": int(exp_id),
            "deleted_time": _int_or_none(meta.get("deleted_time"), "deleted_time", meta_path),
        }
        for column, value in row.items():
            self.runs[column].append(value)
        keys, values = read_key_files(os.path.join(run_dir, "params"))
        self.params["key"] += keys
        self.params["value"] += values
        self.params["run_uuid"] += [run_id] * len(keys)
        self.tags["key"] += list(run_tags)
        self.tags["value"] += list(run_tags.values())
        self.tags["run_uuid"] += [run_id] * len(run_tags)
        metric_files = _metric_files(os.path.join(run_dir, "metrics"), run_id)
        self.metric_files += metric_files
        self.metric_chars += sum(len(metric.text) for metric in metric_files)
        _collect_inputs(Path(run_dir), run_id, datasets, self.inputs, self.input_tags)

    def batches(self) -> BatchStream:
        """The chunk's rows, parents first."""
        yield "runs", batch_from_columns("runs", self.runs)
        if self.params["key"]:
            yield "params", batch_from_columns("params", self.params)
        if self.tags["key"]:
            yield "tags", batch_from_columns("tags", self.tags)
        if self.metric_files:
            # in file order: MLflow's FileStore returns a history in its file's line order
            metrics = parse_run_metrics(self.metric_files)
            for batch in metrics.to_batches():
                yield (
                    "metrics",
                    batch_from_columns(
                        "metrics", dict(zip(metrics.column_names, batch.columns, strict=True))
                    ),
                )
            latest = latest_points(metrics)
            yield (
                "latest_metrics",
                batch_from_columns(
                    "latest_metrics", {name: latest.column(name) for name in latest.column_names}
                ),
            )
        if self.inputs["input_uuid"]:
            yield "inputs", batch_from_columns("inputs", self.inputs)
        if self.input_tags["input_uuid"]:
            yield "input_tags", batch_from_columns("input_tags", self.input_tags)


def _metric_files(folder: Path | str, owner: str) -> list[MetricFile]:
    return [
        MetricFile(path=path, key=key, owner=owner, text=read_text(path, "metric file"))
        for key, path in key_paths(folder)
    ]


def _collect_inputs(
    run_dir: Path,
    run_id: str,
    datasets: dict[str, dict[str, Any]],
    inputs: dict[str, list[Any]],
    input_tags: dict[str, list[str]],
) -> None:
    """Dataset and model inputs (``inputs/``) and model outputs (``outputs/``) of one run."""
    for name in subfolders(run_dir / "inputs"):
        path = run_dir / "inputs" / name / "meta.yaml"
        meta = read_yaml(path)
        source_type = str(meta.get("source_type") or "DATASET")
        source_id = str(require(meta, "source_id", path))
        input_uuid = str(meta.get("input_uuid") or stable_uuid(run_id, "input", name))
        if source_type == "DATASET":
            if source_id not in datasets:
                raise SourceFormatError(
                    f"input refers to dataset {source_id!r}, which is not in the experiment's "
                    "datasets/ folder",
                    path=str(path),
                )
            row = (input_uuid, "DATASET", datasets[source_id]["_uuid"], "RUN", run_id, 0)
        elif source_type == "MODEL":
            row = (input_uuid, "RUN_INPUT", run_id, "MODEL_INPUT", source_id, 0)
        else:
            raise SourceFormatError(
                f"unknown input source_type {source_type!r} (valid: DATASET, MODEL)", path=str(path)
            )
        _append_input(inputs, row)
        for tag_name, tag_value in (meta.get("tags") or {}).items():
            input_tags["input_uuid"].append(input_uuid)
            input_tags["name"].append(str(tag_name))
            input_tags["value"].append(str(tag_value))
    for name in subfolders(run_dir / "outputs"):
        path = run_dir / "outputs" / name / "meta.yaml"
        meta = read_yaml(path)
        model_id = str(meta.get("destination_id") or meta.get("source_id") or name)
        step = _int_or_none(meta.get("step", 0), "step", path) or 0
        input_uuid = str(meta.get("input_uuid") or stable_uuid(run_id, "output", name))
        _append_input(inputs, (input_uuid, "RUN_OUTPUT", run_id, "MODEL_OUTPUT", model_id, step))


def _append_input(inputs: dict[str, list[Any]], row: tuple[Any, ...]) -> None:
    for column, value in zip(TABLES["inputs"].columns, row, strict=True):
        inputs[column].append(value)


def _models_owned(stream: BatchStream, exp_dir: Path) -> BatchStream:
    """``stream`` (logged models), its malformed files naming the logged model whose folder they
    lie in (as :attr:`SourceFormatError.run_id`: ``--on-error skip`` leaves out that model alone)."""
    try:
        yield from stream
    except SourceFormatError as exc:
        path = Path(exc.path) if exc.path is not None else None
        if exc.run_id is None and path is not None and path.is_relative_to(exp_dir / "models"):
            parts = path.relative_to(exp_dir / "models").parts
            exc.run_id = parts[0] if len(parts) > 1 else None
        raise


def _logged_model_batches(
    exp_dir: Path, exp_id: str, models: list[str]
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The logged models of ``models`` (folder names under the experiment's ``models``)."""
    if not models:
        return
    rows: dict[str, list[Any]] = {name: [] for name in TABLES["logged_models"].columns}
    params: dict[str, list[Any]] = {"model_id": [], "param_key": [], "param_value": []}
    tags: dict[str, list[Any]] = {"model_id": [], "tag_key": [], "tag_value": []}
    metric_files: list[MetricFile] = []
    for name in models:
        model_dir = exp_dir / "models" / name
        path = model_dir / "meta.yaml"
        meta = read_yaml(path)
        model_id = str(meta.get("model_id") or name)
        status = meta.get("status", 1)
        if isinstance(status, str):
            status = {"PENDING": 1, "READY": 2, "FAILED": 3}.get(status.upper(), status)
        row = {
            "model_id": model_id,
            "experiment_id": int(exp_id),
            "name": str(require(meta, "name", path)),
            "artifact_location": str(meta.get("artifact_location") or ""),
            "creation_timestamp_ms": _int_or_none(
                meta.get("creation_timestamp", 0), "creation_timestamp", path
            ),
            "last_updated_timestamp_ms": _int_or_none(
                meta.get("last_updated_timestamp", 0), "last_updated_timestamp", path
            ),
            "status": _int_or_none(status, "status", path),
            "lifecycle_stage": str(meta.get("lifecycle_stage") or "active"),
            "model_type": _str_or_none(meta.get("model_type")),
            "source_run_id": _str_or_none(meta.get("source_run_id")),
            "status_message": _str_or_none(meta.get("status_message")),
        }
        for column, value in row.items():
            rows[column].append(value)
        keys, values = read_key_files(model_dir / "params")
        params["model_id"] += [model_id] * len(keys)
        params["param_key"] += keys
        params["param_value"] += values
        keys, values = read_key_files(model_dir / "tags")
        tags["model_id"] += [model_id] * len(keys)
        tags["tag_key"] += keys
        tags["tag_value"] += values
        metric_files += _metric_files(model_dir / "metrics", model_id)
    experiment = int(exp_id)
    yield "logged_models", batch_from_columns("logged_models", rows)
    if params["model_id"]:
        params["experiment_id"] = [experiment] * len(params["model_id"])
        yield "logged_model_params", batch_from_columns("logged_model_params", params)
    if tags["model_id"]:
        tags["experiment_id"] = [experiment] * len(tags["model_id"])
        yield "logged_model_tags", batch_from_columns("logged_model_tags", tags)
    if metric_files:
        metrics = parse_model_metrics(metric_files)
        columns = {name: metrics.column(name) for name in metrics.column_names}
        columns["experiment_id"] = pa.array([experiment] * metrics.num_rows, pa.int64())
        yield "logged_model_metrics", batch_from_columns("logged_model_metrics", columns)
