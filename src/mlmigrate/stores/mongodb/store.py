"""MLflow on MongoDB / Cosmos DB (the ``mlflow-mongodb`` plugin's layout) as a source and a destination."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from mlmigrate.exceptions import (
    ConflictError,
    MigrationError,
    StoreError,
    TransientStoreError,
    UsageError,
)
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, Unit
from mlmigrate.stores.mongodb import layout
from mlmigrate.stores.mongodb.documents import (
    ExperimentDocuments,
    metric_documents,
    model_metric_upserts,
    registered_model_documents,
)
from mlmigrate.stores.mongodb.layout import EXTRA, canonical_experiment_id
from mlmigrate.stores.mongodb.retry import RetryPolicy, WriteStats, is_throttled, write_in_batches
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
from mlmigrate.uris import mask

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
#: rows per canonical batch when reading metric points back
READ_BATCH = 50_000
#: ids per ``$in`` query
IN_CHUNK = 1000


def database_name(uri: str) -> str:
    """The database a ``mongodb://`` / ``mongodb+srv://`` URI names (its path), without DNS."""
    path = unquote(urlsplit(uri).path).lstrip("/")
    if not path:
        raise UsageError(
            f"{mask(uri)}: a MongoDB URI must name the database, as the plugin needs it: "
            "mongodb://host:27017/<database>"
        )
    if any(ch in path for ch in '/\\. "$') or len(path) > 63:
        raise UsageError(f"{mask(uri)}: {path!r} is not a valid MongoDB database name")
    return path


def _chunks(items: list[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MongoStore:
    """An MLflow tracking + registry database on MongoDB or Cosmos DB, in the plugin's layout."""

    def __init__(self, uri: str):
        self.uri = uri
        self.display_uri = mask(uri)
        self.database_name = database_name(uri)
        self.batch_size = DEFAULT_BATCH_SIZE
        self.retry_policy = RetryPolicy()
        self.write_stats = WriteStats()
        self.capabilities = Capabilities(writers=2)
        self._client: Any = None

    @property
    def db(self) -> Any:
        """The pymongo database, connected on first use (``mongodb+srv`` resolves DNS then)."""
        if self._client is None:
            try:
                import pymongo
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise UsageError(
                    "the driver for mongodb stores is missing; pip install 'mlmigrate[mongodb]'"
                ) from exc
            try:
                self._client = pymongo.MongoClient(self.uri, appname="mlmigrate", tz_aware=False)
            except Exception as exc:
                raise self._translate(exc, "connecting") from exc
        return self._client[self.database_name]

    def _translate(self, exc: BaseException, doing: str) -> MigrationError:
        """One mlmigrate error for a pymongo error: transient, conflict or plain store error."""
        if isinstance(exc, MigrationError):
            return exc
        from pymongo import errors

        text = mask(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)[:500]
        where = f"{doing} on {self.display_uri}"
        if isinstance(exc, errors.ConnectionFailure | errors.ExecutionTimeout | errors.WTimeoutError):
            return TransientStoreError(f"{where}: {text}")
        if is_throttled(exc):
            return TransientStoreError(f"{where}: throttled by the server: {text}")
        duplicate = isinstance(exc, errors.DuplicateKeyError) or (
            isinstance(exc, errors.BulkWriteError)
            and any(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))
        )
        if duplicate:
            return ConflictError(
                f"{where}: the destination already holds a document with the same unique key "
                "(owned by another experiment or model); resolve it and run the copy again",
                [text],
            )
        if isinstance(exc, errors.ConfigurationError | errors.InvalidURI):
            return UsageError(f"{where}: {text}")
        return StoreError(f"{where}: {text}")

    # -- destination ------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """Whether the database holds no collection yet."""
        try:
            return not self.db.list_collection_names()
        except Exception as exc:
            raise self._translate(exc, "connecting") from exc

    def prepare(self) -> None:
        """Create the plugin's indexes (same names and keys; existing ones are left alone)."""
        try:
            # nx-27017 (a SQLite-backed wire-protocol server used in tests) cannot insert into a
            # collection with ``_id`` inside a compound index; MongoDB and Cosmos DB can
            build = self.db.client.admin.command("buildInfo")
            no_id_in_compound = "nx_27017" in str(build.get("process", ""))
            for collection, indexes in layout.INDEXES.items():
                present = {
                    tuple((k, int(d)) for k, d in info["key"])
                    for info in self.db[collection].index_information().values()
                }
                for name, keys, unique in indexes:
                    if tuple(keys) in present:
                        continue
                    if no_id_in_compound and len(keys) > 1 and any(k == "_id" for k, _ in keys):
                        logger.warning("%s: index %s skipped on this server", self.display_uri, name)
                        continue
                    self.db[collection].create_index(keys, name=name, unique=unique)
        except Exception as exc:
            raise self._translate(exc, "creating indexes") from exc

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments, registered models and the given run ids already in the database."""
        found = ExistingObjects()
        db = self.db
        try:
            for document in db[layout.EXPERIMENTS].find({}, {"name": 1}):
                number = canonical_experiment_id(document["_id"])
                if number is None:
                    continue
                found.experiments[number] = document["name"]
                found.experiment_names[document["name"]] = number
            busy: set[str] = set()
            for collection in (layout.RUNS, layout.TRACES, layout.LOGGED_MODELS):
                busy.update(str(v) for v in db[collection].distinct("experiment_id"))
            busy.update(
                str(d["_id"]) for d in db[layout.EXPERIMENTS].find({"tags": {"$nin": [[], None]}}, {"_id": 1})
            )
            found.empty_experiments = {i for i in found.experiments if str(i) not in busy}
            found.registered_models = {d["name"] for d in db[layout.REGISTERED_MODELS].find({}, {"name": 1})}
            for chunk in _chunks(list(run_ids)):
                found.run_ids.update(
                    d["_id"] for d in db[layout.RUNS].find({"_id": {"$in": chunk}}, {"_id": 1})
                )
        except Exception as exc:
            raise self._translate(exc, "reading what the destination holds") from exc
        return found

    def _insert(self, collection: str, documents: list[dict[str, Any]]) -> None:
        if documents:
            target = self.db[collection]
            write_in_batches(
                lambda part: target.insert_many(part, ordered=False),
                documents,
                batch_size=self.batch_size,
                policy=self.retry_policy,
                stats=self.write_stats,
                stored=lambda document: target.find_one({"_id": document["_id"]}, {"_id": 1}) is not None,
            )

    def _bulk(self, collection: str, requests: list[Any]) -> None:
        if requests:
            target = self.db[collection]
            write_in_batches(
                lambda part: target.bulk_write(list(part), ordered=False),
                requests,
                batch_size=self.batch_size,
                policy=self.retry_policy,
                stats=self.write_stats,
            )

    def _delete(self, collection: str, query: dict[str, Any]) -> None:
        policy = self.retry_policy
        target = self.db[collection]
        write_in_batches(lambda _: target.delete_many(query), [None], batch_size=1, policy=policy)

    def _ids(self, collection: str, query: dict[str, Any]) -> list[Any]:
        return [d["_id"] for d in self.db[collection].find(query, {"_id": 1})]

    def write_unit(self, unit: Unit, dest_id: str, batches: BatchStream) -> dict[str, int]:
        """Clear the unit's documents, then write ``batches`` as the plugin's documents."""
        current = "clearing"
        written: dict[str, int] = {}
        try:
            if unit.kind == EXPERIMENT:
                self._clear_experiment(dest_id)
                gathered = ExperimentDocuments(dest_id)
                for table, batch in batches:
                    current = table
                    if table == "metrics":
                        self._insert(layout.RUN_METRICS, metric_documents(batch))
                    else:
                        if table == "runs":  # points of a write cut short before its run document
                            for chunk in _chunks(batch.column("run_uuid").to_pylist()):
                                self._delete(layout.RUN_METRICS, {"run_id": {"$in": chunk}})
                        gathered.add(table, batch)
                    written[table] = written.get(table, 0) + batch.num_rows
                current = "documents"
                documents = gathered.finish()
                for collection in (layout.EXPERIMENTS, layout.RUNS, layout.LOGGED_MODELS, layout.TRACES):
                    self._insert(collection, documents[collection])
                self._bulk(layout.RUN_METRICS, model_metric_upserts(gathered.model_metrics))
                self._insert(layout.ASSESSMENTS, documents[layout.ASSESSMENTS])
                if gathered.kept_aside:
                    logger.info(
                        "%s: rows kept in the experiment document (no plugin field): %s",
                        unit.unit_id,
                        dict(gathered.kept_aside),
                    )
            elif unit.kind == REGISTERED_MODEL:
                rows: dict[str, list[dict[str, Any]]] = {}
                for table, batch in batches:
                    current = table
                    rows.setdefault(table, []).extend(batch.to_pylist())
                    written[table] = written.get(table, 0) + batch.num_rows
                current = "clearing"
                self._clear_registered_model(dest_id)
                if rows.get("registered_models"):
                    model, versions = registered_model_documents(dest_id, rows)
                    self._insert(layout.REGISTERED_MODELS, [model])
                    self._insert(layout.MODEL_VERSIONS, versions)
            else:
                raise StoreError(f"{self.display_uri}: unknown unit kind {unit.kind!r}")
        except MigrationError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"writing {current} of {unit.unit_id}") from exc
        return written

    def _clear_experiment(self, key: str) -> None:
        """Remove every document of experiment ``key`` (a resumed unit starts clean)."""
        run_ids = self._ids(layout.RUNS, {"experiment_id": key})
        model_ids = self._ids(layout.LOGGED_MODELS, {"experiment_id": key})
        for chunk in _chunks(run_ids):
            self._delete(layout.RUN_METRICS, {"run_id": {"$in": chunk}})
        for chunk in _chunks(model_ids):
            self._delete(layout.RUN_METRICS, {"model_id": {"$in": chunk}, f"{EXTRA}.history": False})
        for collection in (layout.ASSESSMENTS, layout.TRACES, layout.LOGGED_MODELS, layout.RUNS):
            self._delete(collection, {"experiment_id": key})
        self._delete(layout.EXPERIMENTS, {"_id": key})

    def _clear_registered_model(self, name: str) -> None:
        ids = self._ids(layout.REGISTERED_MODELS, {"name": name}) + [
            layout.object_id("registered_model", name)
        ]
        self._delete(layout.MODEL_VERSIONS, {"registered_model_id": {"$in": ids}})
        self._delete(layout.REGISTERED_MODELS, {"_id": {"$in": ids}})

    def dangling_references(self) -> list[tuple[str, str]]:
        """(table, problem) for every run, trace or logged model whose experiment is missing
        and every model version whose registered model is missing (no foreign keys here)."""
        db = self.db
        problems: list[tuple[str, str]] = []
        try:
            experiments = set(self._ids(layout.EXPERIMENTS, {}))
            for collection, table in (
                (layout.RUNS, "runs"),
                (layout.TRACES, "trace_info"),
                (layout.LOGGED_MODELS, "logged_models"),
            ):
                owners = Counter(
                    d.get("experiment_id") for d in db[collection].find({}, {"experiment_id": 1})
                )
                for missing, count in sorted(owners.items(), key=lambda item: str(item[0])):
                    if missing not in experiments:
                        problems.append(
                            (
                                table,
                                f"{count} {collection} document(s) of experiment {missing}, which is missing",
                            )
                        )
            models = set(self._ids(layout.REGISTERED_MODELS, {}))
            parents = Counter(
                d.get("registered_model_id")
                for d in db[layout.MODEL_VERSIONS].find({}, {"registered_model_id": 1})
            )
            for missing, count in parents.items():
                if missing not in models:
                    problems.append(
                        (
                            "model_versions",
                            f"{count} version(s) of registered model _id {missing}, which is missing",
                        )
                    )
        except Exception as exc:
            raise self._translate(exc, "checking references") from exc
        return problems

    def finish(self) -> None:
        """Nothing to advance: the plugin makes random ids and counts versions per model."""

    # -- source -----------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name."""
        try:
            experiments = list(self.db[layout.EXPERIMENTS].find({}, {"name": 1}))
            models = [d["name"] for d in self.db[layout.REGISTERED_MODELS].find({}, {"name": 1})]
        except Exception as exc:
            raise self._translate(exc, "listing units") from exc
        experiments.sort(key=lambda d: (len(str(d["_id"])), str(d["_id"])))
        return [Unit(EXPERIMENT, str(d["_id"]), d["name"]) for d in experiments] + [
            Unit(REGISTERED_MODEL, name, name) for name in sorted(models)
        ]

    def run_ids(self) -> list[str]:
        """Every run id, for clash detection against a destination."""
        return [str(i) for i in self._ids(layout.RUNS, {})]

    def read_unit(self, unit: Unit) -> BatchStream:
        """All canonical rows of one unit, table by table."""
        try:
            if unit.kind == EXPERIMENT:
                yield from self._read_experiment(unit.source_id)
            else:
                yield from self._read_registered_model(unit.source_id)
        except MigrationError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"reading {unit.unit_id}") from exc

    @staticmethod
    def _batch(table: str, columns: Columns) -> Iterator[tuple[str, pa.RecordBatch]]:
        if len(columns):
            yield table, batch_from_columns(table, columns.data)

    def _read_experiment(self, key: str) -> BatchStream:
        db = self.db
        document = db[layout.EXPERIMENTS].find_one({"_id": key})
        if document is None:
            return
        eid = canonical_experiment_id(key)
        aside: dict[str, list[dict[str, Any]]] = (document.get(EXTRA) or {}).get("rows", {})
        out = {name: Columns(TABLES[name].columns) for name in TABLES if TABLES[name].unit_kind == EXPERIMENT}
        out["experiments"].add(**experiment_row(document, eid))
        for tag in document.get("tags", []):
            out["experiment_tags"].add(key=tag["k"], value=tag["v"], experiment_id=eid)
        yield from self._batch("experiments", out["experiments"])
        yield from self._batch("experiment_tags", out["experiment_tags"])

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
            self._read_inputs(run, eid, out, seen)
        for table in ("runs", "params", "tags"):
            yield from self._batch(table, out[table])
        yield from self._read_metrics([r["_id"] for r in runs])
        yield from self._batch("latest_metrics", out["latest_metrics"])
        for table in ("datasets", "inputs", "input_tags"):
            for row in aside.get(table, []):
                out[table].add(**{**row, **({"experiment_id": eid} if "experiment_id" in row else {})})
            yield from self._batch(table, out[table])

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
        for chunk in _chunks(model_ids):
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
            yield from self._batch(table, out[table])

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
            yield from self._batch(table, out[table])
        for table in ("params", "tags", "latest_metrics"):  # rows whose run was not in the unit
            extra_rows = Columns(TABLES[table].columns)
            for row in aside.get(table, []):
                extra_rows.add(**row)
            yield from self._batch(table, extra_rows)

    def _read_inputs(
        self, run: dict[str, Any], eid: int | None, out: dict[str, Columns], seen: set[str]
    ) -> None:
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
            input_uuid = (
                extra.get("input_uuid") or uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{dataset_uuid}").hex
            )
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
            self._add_input(
                out, input_uuid, "DATASET", dataset_uuid, "RUN", run_id, extra.get("step", 0), entry
            )
        for entry in inputs.get("models", []):
            extra = entry.get(EXTRA) or {}
            input_uuid = (
                extra.get("input_uuid")
                or uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/in/{entry['model_id']}").hex
            )
            self._add_input(
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
            self._add_input(
                out,
                input_uuid,
                "RUN_OUTPUT",
                run_id,
                "MODEL_OUTPUT",
                entry["model_id"],
                entry.get("step"),
                entry,
            )

    @staticmethod
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

    def _read_metrics(self, run_ids: list[str]) -> BatchStream:
        """Metric points of the runs, in batches (points only a logged model holds are left out)."""
        projection = {"_id": 0, "k": 1, "v": 1, "timestamp": 1, "step": 1, "run_id": 1, f"{EXTRA}.history": 1}
        columns = Columns(TABLES["metrics"].columns)
        for chunk in _chunks(run_ids):
            for point in self.db[layout.RUN_METRICS].find({"run_id": {"$in": chunk}}, projection):
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
                    yield from self._batch("metrics", columns)
                    columns = Columns(TABLES["metrics"].columns)
        yield from self._batch("metrics", columns)

    def _read_registered_model(self, name: str) -> BatchStream:
        db = self.db
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
            out["registered_model_tags"].add(
                key=tag["key"], value=tag["value"], name=name, workspace=workspace
            )
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
            yield from self._batch(table, out[table])

    def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
