"""Compare two MLflow stores as MLflow itself sees them, through ``mlflow.MlflowClient``.

``compare_stores(source_uri, dest_uri)`` reads both stores completely and returns
human-readable differences (an empty list means equal). Experiments are matched by name,
because a destination may remap experiment ids; every other id, timestamp and value must match.

Floats compare exactly (``-0.0`` differs from ``0.0``); NaN equals NaN.

Besides the objects, it compares what the client's queries return, as a user of the store would
ask: ``search_prompts(filter_string="experiment_id = '<id>'")`` per experiment, and each of
``searches`` (``(filter_string, order_by)``) through ``search_runs`` per experiment (the run ids
in the order returned when ``order_by`` is given). With ``ordered_histories`` (both stores
return a history in the order they keep it: FileStore to FileStore) ``get_metric_history`` must
return the points in the same order; otherwise histories compare as multisets.

Not visible through the client, so not compared: deleted logged models (search skips them,
get raises), deleted model versions (``Deleted_Internal`` is filtered by every read API),
deleted registered models (the FileStore ``rmtree``s them), artifacts, and the next version
number of a registered model.

MLflow bugs corrected while reading (switch off with ``fix_filestore_reader=False``):

* The FileStore reads a metric line logged with a dataset (``ts value step name digest``)
  as **step 0**. The step is in the file, so the comparator reads it from there.

Known, documented lossy mappings of MLflow's SQL schema can be tolerated one by one
(``tolerate=``; what a store needs follows from its capabilities: ``contract.kinds.tolerances``):

* ``"inf-as-max-float"``: ``±inf`` in the source may be ``±1.7976931348623157e308``
  in the destination (``sanitize_metric_value``).
* ``"duplicate-metric-points"``: metric histories compare as sets, not multisets
  (the SQL ``metrics`` primary key cannot hold an exact duplicate point).
* ``"model-version-model-id"``: ``ModelVersion.model_id`` is ignored (no SQL column).
* ``"logged-models-not-held"``, ``"traces-not-held"``: logged models or traces are not compared
  (a store whose ``Capabilities.tables`` leaves them out: a tracking server over REST).

SQLite (and, for ``-0.0``, MySQL) adds two more:

* ``"negative-zero"``: ``-0.0`` may come back as ``0.0`` (SQLite stores integral REALs as
  integers).
* ``"nan-as-null"``: NaN may come back as ``None`` (SQLite stores NaN as NULL; seen on
  logged-model metrics, which have no ``is_nan`` column).

Representation differences between MLflow's stores that are not data are normalized: alias
versions compare as strings (the FileStore returns ``'2'``, SQL stores ``2``),
``ModelVersion.aliases`` is not compared (SQL ``search_model_versions`` leaves it empty; the
registered model's aliases are compared instead), and an assessment's ``valid`` of None (an
expectation read from the FileStore) compares as True (the SQL column is NOT NULL, default true).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

#: every tolerance ``compare_stores`` knows
TOLERANCES = frozenset(
    {
        "inf-as-max-float",
        "duplicate-metric-points",
        "model-version-model-id",
        "negative-zero",
        "nan-as-null",
        "logged-models-not-held",
        "traces-not-held",
    }
)
#: the sections a tolerance leaves out: a store that does not hold those tables (its
#: ``Capabilities.tables``; the copy reports their rows as not held)
_NOT_HELD = {"logged-models-not-held": "logged_models", "traces-not-held": "traces"}
_MAX_FLOAT = 1.7976931348623157e308
_PAGE = 1000


def normalize_uri(uri: str) -> str:
    """Return ``uri`` in a form MLflow accepts: plain paths become ``file://`` URIs, and
    ``postgresql://`` uses psycopg 3 unless psycopg2 is installed."""
    if "://" not in uri:
        return Path(uri).resolve().as_uri()
    scheme, rest = uri.split("://", 1)
    if scheme == "postgresql" and importlib.util.find_spec("psycopg2") is None:
        return f"postgresql+psycopg://{rest}"
    if scheme == "mysql" and importlib.util.find_spec("MySQLdb") is None:
        return f"mysql+pymysql://{rest}"
    return uri


def compare_stores(
    source_uri: str,
    dest_uri: str,
    *,
    tolerate: Iterable[str] = (),
    fix_filestore_reader: bool = True,
    searches: Iterable[tuple[str, list[str]]] = (),
    ordered_histories: bool = False,
) -> list[str]:
    """Return every difference between the two stores, each naming the object and field."""
    tolerated = frozenset(tolerate)
    unknown = tolerated - TOLERANCES
    if unknown:
        raise ValueError(f"unknown tolerance(s) {sorted(unknown)}; valid: {sorted(TOLERANCES)}")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    patch = _fixed_filestore_metric_lines() if fix_filestore_reader else contextlib.nullcontext()
    with patch:
        source = _snapshot(normalize_uri(source_uri), tuple(searches))
        dest = _snapshot(normalize_uri(dest_uri), tuple(searches))
    return _Differ(tolerated, ordered_histories=ordered_histories).diff(source, dest)


@contextlib.contextmanager
def _fixed_filestore_metric_lines() -> Iterator[None]:
    """Let the FileStore read the step of 5-field metric lines instead of returning 0."""
    from mlflow.store.tracking.file_store import FileStore

    original = FileStore.__dict__["_get_metric_from_line"]

    def fixed(run_id: str, metric_name: str, metric_line: str, exp_id: str) -> Any:
        metric = original.__func__(run_id, metric_name, metric_line, exp_id)
        parts = metric_line.strip().split(" ")
        if len(parts) == 5:
            metric._step = int(parts[2])
        return metric

    FileStore._get_metric_from_line = staticmethod(fixed)
    try:
        yield
    finally:
        FileStore._get_metric_from_line = original


def _paged(fetch: Callable[[str | None], Any]) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        page = fetch(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _snapshot(uri: str, searches: tuple[tuple[str, list[str]], ...] = ()) -> dict[str, Any]:
    """Read the whole store into plain, comparable data (experiment ids replaced by names).

    A read that MLflow itself cannot do is recorded under ``"errors"`` instead of raising.
    """
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    snap: dict[str, Any] = {
        "errors": [],
        "experiments": {},
        "runs": {},
        "logged_models": {},
        "traces": {},
        "registered_models": {},
        "model_versions": {},
        "queries": {},
    }

    @contextlib.contextmanager
    def guarded(what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # MLflow cannot read it: that is a finding, not a crash
            snap["errors"].append(f"reading {what} failed: {type(exc).__name__}: {exc}")

    experiments = _paged(
        lambda token: client.search_experiments(view_type=ViewType.ALL, max_results=_PAGE, page_token=token)
    )
    names = {e.experiment_id: e.name for e in experiments}
    for experiment in experiments:
        snap["experiments"][experiment.name] = {
            "lifecycle_stage": experiment.lifecycle_stage,
            "artifact_location": experiment.artifact_location,
            "creation_time": experiment.creation_time,
            "last_update_time": experiment.last_update_time,
            "tags": dict(experiment.tags),
        }
        eid, label = experiment.experiment_id, f"experiment {experiment.name!r}"
        with guarded(f"runs of {label}"):
            for run in _paged(
                lambda token, eid=eid: client.search_runs(
                    [eid], run_view_type=ViewType.ALL, max_results=_PAGE, page_token=token
                )
            ):
                with guarded(f"run {run.info.run_id}"):
                    snap["runs"][run.info.run_id] = _read_run(client, run.info.run_id, names)
        with guarded(f"logged models of {label}"):
            for model in _paged(
                lambda token, eid=eid: client.search_logged_models([eid], max_results=_PAGE, page_token=token)
            ):
                snap["logged_models"][model.model_id] = _read_logged_model(model, names)
        with guarded(f"traces of {label}"):
            for trace in _paged(
                lambda token, eid=eid: client.search_traces(
                    locations=[eid], max_results=500, page_token=token, include_spans=False
                )
            ):
                trace_id = trace.info.trace_id
                with guarded(f"trace {trace_id}"):
                    snap["traces"][trace_id] = _read_trace(client, trace_id, names)
        with guarded(f"prompts of {label}"):
            prompts = _paged(
                lambda token, eid=eid: client.search_prompts(
                    filter_string=f"experiment_id = '{eid}'", max_results=_PAGE, page_token=token
                )
            )
            snap["queries"][f"search_prompts of {label}"] = sorted(prompt.name for prompt in prompts)
        for filter_string, order_by in searches:
            query = f"search_runs({filter_string!r}, order_by={order_by}) of {label}"
            with guarded(query):
                found = [
                    run.info.run_id
                    for run in _paged(
                        lambda token, eid=eid, f=filter_string, o=order_by: client.search_runs(
                            [eid],
                            f,
                            run_view_type=ViewType.ALL,
                            max_results=_PAGE,
                            order_by=o,
                            page_token=token,
                        )
                    )
                ]
                snap["queries"][query] = found if order_by else sorted(found)

    with guarded("registered models"):
        for model in _paged(
            lambda token: client.search_registered_models(max_results=_PAGE, page_token=token)
        ):
            snap["registered_models"][model.name] = {
                "description": model.description,
                "creation_timestamp": model.creation_timestamp,
                "last_updated_timestamp": model.last_updated_timestamp,
                "tags": dict(model.tags),
                "aliases": {alias: str(version) for alias, version in model.aliases.items()},
            }
    with guarded("model versions"):
        for version in _paged(
            lambda token: client.search_model_versions(max_results=_PAGE, page_token=token)
        ):
            snap["model_versions"][(version.name, str(version.version))] = {
                field: getattr(version, field) for field in _MODEL_VERSION_FIELDS
            } | {"tags": dict(version.tags)}
    return snap


_MODEL_VERSION_FIELDS = (
    "creation_timestamp",
    "last_updated_timestamp",
    "description",
    "user_id",
    "current_stage",
    "source",
    "run_id",
    "run_link",
    "status",
    "status_message",
    "model_id",
)


def _read_run(client: Any, run_id: str, names: dict[str, str]) -> dict[str, Any]:
    run = client.get_run(run_id)  # search_runs on SQL stores leaves out model inputs
    info = run.info
    histories = {
        key: [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }
    dataset_inputs = {}
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        dataset = dataset_input.dataset
        dataset_inputs[(dataset.name, dataset.digest)] = {
            "source_type": dataset.source_type,
            "source": dataset.source,
            "schema": dataset.schema,
            "profile": dataset.profile,
            "tags": {tag.key: tag.value for tag in dataset_input.tags},
        }
    return {
        "info": {
            "experiment": names.get(info.experiment_id, f"<id {info.experiment_id}>"),
            "run_name": info.run_name,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "lifecycle_stage": info.lifecycle_stage,
            "user_id": info.user_id,
            "artifact_uri": info.artifact_uri,
        },
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "latest_metrics": dict(run.data.metrics),
        "metric_history": histories,
        "dataset_inputs": dataset_inputs,
        "model_inputs": sorted(m.model_id for m in (run.inputs.model_inputs if run.inputs else [])),
        "model_outputs": sorted(
            (m.model_id, m.step) for m in (run.outputs.model_outputs if run.outputs else [])
        ),
    }


def _read_logged_model(model: Any, names: dict[str, str]) -> dict[str, Any]:
    latest: dict[tuple[Any, ...], Any] = {}
    for metric in model.metrics or []:
        group = (metric.key, metric.dataset_name, metric.dataset_digest)
        point = (metric.step, metric.timestamp, metric.value, metric.run_id)
        if group not in latest or _metric_order(point) > _metric_order(latest[group]):
            latest[group] = point
    return {
        "experiment": names.get(model.experiment_id, f"<id {model.experiment_id}>"),
        "name": model.name,
        "artifact_location": model.artifact_location,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "model_type": model.model_type,
        "source_run_id": model.source_run_id,
        "status": str(model.status),
        "status_message": model.status_message,
        "tags": dict(model.tags),
        "params": dict(model.params),
        # as returned: the FileStore's latest point per (key, dataset), picked in file order
        # (compared only with ``ordered_histories``); SQL returns all of them
        "returned_metrics": [
            (m.key, m.dataset_name, m.dataset_digest, m.step, m.timestamp, m.value, m.run_id)
            for m in model.metrics or []
        ],
        # FileStore returns only the latest point per (key, dataset); SQL returns all of them
        "latest_metrics": {
            f"{key} [{dataset_name}/{digest}]": point for (key, dataset_name, digest), point in latest.items()
        },
    }


def _metric_order(point: tuple[Any, ...]) -> tuple[Any, ...]:
    step, timestamp, value = point[:3]
    # None: a NaN that SQLite could not store (logged-model metrics have no is_nan column)
    return (step, timestamp, -math.inf if value is None or math.isnan(value) else value)


def _read_trace(client: Any, trace_id: str, names: dict[str, str]) -> dict[str, Any]:
    trace = client.get_trace(trace_id, display=False)
    info = trace.info.to_dict()
    assessments = {a["assessment_id"]: a for a in info.pop("assessments", [])}  # compared by id, not by order
    for assessment in assessments.values():
        # An expectation read from the FileStore has ``valid`` None (``to_dict`` leaves the key
        # out), while MLflow's SQL store always returns ``valid=True`` (a NOT NULL column,
        # default true). Not data: read None as True, as the SQL store does.
        if assessment.get("valid") is None:
            assessment["valid"] = True
    location = info.get("trace_location", {}).get("mlflow_experiment")
    if location and "experiment_id" in location:
        location["experiment_id"] = names.get(location["experiment_id"], f"<id {location['experiment_id']}>")
    tags = info.pop("tags", {})
    metadata = info.pop("trace_metadata", {})
    spans = {span.span_id: span.to_dict() for span in trace.data.spans}
    return {
        "info": info,
        "tags": tags,
        "metadata": metadata,
        "assessments": assessments,
        "spans": spans,
    }


def _scalar_type(value: Any) -> type:
    """The type compared: pymongo's ``Int64`` (what the MongoDB plugin returns) is an int."""
    kind = type(value)
    return int if issubclass(kind, int) and kind is not bool else kind


def _float_key(value: float) -> bytes | str:
    """An exact identity for a float: NaN equals NaN, -0.0 differs from 0.0."""
    return "nan" if math.isnan(value) else struct.pack("<d", value)


class _Differ:
    def __init__(self, tolerate: frozenset[str], *, ordered_histories: bool = False) -> None:
        self.tolerate = tolerate
        self.ordered_histories = ordered_histories
        self.out: list[str] = []

    def diff(self, source: dict[str, Any], dest: dict[str, Any]) -> list[str]:
        for side, snap in (("source", source), ("destination", dest)):
            self.out.extend(f"{side}: {error}" for error in snap["errors"])
        for section, label in (
            ("experiments", "experiment"),
            ("runs", "run"),
            ("logged_models", "logged model"),
            ("traces", "trace"),
            ("registered_models", "registered model"),
            ("model_versions", "model version"),
        ):
            if section in {_NOT_HELD[t] for t in self.tolerate & _NOT_HELD.keys()}:
                continue
            self._objects(label, source[section], dest[section])
        self._value("query", source["queries"], dest["queries"])
        return self.out

    def _objects(self, label: str, source: dict[Any, Any], dest: dict[Any, Any]) -> None:
        for key in sorted(source.keys() - dest.keys(), key=repr):
            self.out.append(f"{label} {_show(key)} missing in destination")
        for key in sorted(dest.keys() - source.keys(), key=repr):
            self.out.append(f"{label} {_show(key)} only in destination")
        for key in sorted(source.keys() & dest.keys(), key=repr):
            name = f"{label} {_show(key)}"
            if label == "run":
                self._run(name, source[key], dest[key])
                continue
            for field in source[key].keys() | dest[key].keys():
                if field not in dest[key] or field not in source[key]:
                    self._value(name, source[key], dest[key])  # reports the odd field
                    break
            else:
                for field in source[key]:
                    if (label, field) == ("model version", "model_id") and (
                        "model-version-model-id" in self.tolerate
                    ):
                        continue
                    if (label, field) == ("logged model", "returned_metrics") and not self.ordered_histories:
                        continue
                    self._value(f"{name} {field}", source[key][field], dest[key][field])

    def _run(self, name: str, source: dict[str, Any], dest: dict[str, Any]) -> None:
        for field in source:
            if field == "metric_history":
                self._histories(name, source[field], dest[field])
            elif field == "latest_metrics":
                self._value(f"{name} latest metric", source[field], dest[field])
            else:
                self._value(f"{name} {field}", source[field], dest[field])

    def _histories(self, name: str, source: dict[str, list[Any]], dest: dict[str, list[Any]]) -> None:
        for key in sorted(source.keys() | dest.keys()):
            if key not in dest:
                self.out.append(f"{name} metric {key!r} history missing in destination")
                continue
            if key not in source:
                self.out.append(f"{name} metric {key!r} history only in destination")
                continue
            left = Counter(self._point_key(p) for p in source[key])
            right = Counter(self._point_key(p) for p in dest[key])
            if "duplicate-metric-points" in self.tolerate:
                left, right = Counter(set(left)), Counter(set(right))
            if left != right:
                only_source = sorted((left - right).elements(), key=repr)
                only_dest = sorted((right - left).elements(), key=repr)
                self.out.append(
                    f"{name} metric {key!r} history differs "
                    f"({sum(left.values())} vs {sum(right.values())} points): "
                    f"only in source {_points(only_source)}, only in destination "
                    f"{_points(only_dest)}"
                )
            elif self.ordered_histories:
                mine = [self._point_key(p) for p in source[key]]
                theirs = [self._point_key(p) for p in dest[key]]
                if mine != theirs:
                    self.out.append(
                        f"{name} metric {key!r} history in another order: source {_points(mine)}, "
                        f"destination {_points(theirs)}"
                    )

    def _point_key(self, point: tuple[int, int, float]) -> tuple[Any, ...]:
        step, timestamp, value = point
        return (step, timestamp, _float_key(self._tolerant(value)))

    def _tolerant(self, value: float) -> float:
        """Map a float to what a tolerated lossy store would read back."""
        if "inf-as-max-float" in self.tolerate and math.isinf(value):
            return math.copysign(_MAX_FLOAT, value)
        if "negative-zero" in self.tolerate and value == 0.0:
            return 0.0
        return value

    def _value(self, name: str, source: Any, dest: Any) -> None:
        if isinstance(source, dict) and isinstance(dest, dict):
            for key in sorted(source.keys() - dest.keys(), key=repr):
                self.out.append(f"{name} {key!r} missing in destination")
            for key in sorted(dest.keys() - source.keys(), key=repr):
                self.out.append(f"{name} {key!r} only in destination")
            for key in sorted(source.keys() & dest.keys(), key=repr):
                self._value(f"{name} {key!r}", source[key], dest[key])
            return
        if isinstance(source, (list, tuple)) and isinstance(dest, (list, tuple)):
            if len(source) == len(dest):
                for index, (left, right) in enumerate(zip(source, dest, strict=True)):
                    self._value(f"{name}[{index}]", left, right)
                return
        elif self._same_scalar(source, dest):
            return
        self.out.append(f"{name} differs: source {_short(source)} != destination {_short(dest)}")

    def _same_scalar(self, source: Any, dest: Any) -> bool:
        if isinstance(source, float) and isinstance(dest, float):
            return _float_key(self._tolerant(source)) == _float_key(self._tolerant(dest))
        if "nan-as-null" in self.tolerate and isinstance(source, float) and dest is None:
            return math.isnan(source)
        if isinstance(source, float) or isinstance(dest, float):
            return False  # 1 vs 1.0 is a type change worth reporting
        return _scalar_type(source) is _scalar_type(dest) and source == dest


def _show(key: Any) -> str:
    if isinstance(key, tuple):
        return " v".join(str(part) for part in key)
    return repr(key) if isinstance(key, str) and " " in key else str(key)


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _points(points: list[tuple[Any, ...]], limit: int = 5) -> str:
    shown = [
        (step, timestamp, "nan" if raw == "nan" else struct.unpack("<d", raw)[0])
        for step, timestamp, raw in points[:limit]
    ]
    more = f" +{len(points) - limit} more" if len(points) > limit else ""
    return f"{shown}{more}"
