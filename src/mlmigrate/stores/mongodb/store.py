"""MLflow on MongoDB / Cosmos DB (the ``mlflow-mongodb`` plugin's layout) as a source and a destination."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from mlmigrate.exceptions import (
    StoreError,
    UsageError,
)
from mlmigrate.references import LOGGED_MODEL_ID, RUN_ID
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit, unsupported
from mlmigrate.stores.mongodb import layout
from mlmigrate.stores.mongodb.documents import (
    ExperimentDocuments,
    metric_documents,
    model_metric_upserts,
    registered_model_documents,
)
from mlmigrate.stores.mongodb.errors import MongoErrors
from mlmigrate.stores.mongodb.layout import EXTRA, canonical_experiment_id
from mlmigrate.stores.mongodb.reading import chunks, read_experiment, read_registered_model
from mlmigrate.stores.mongodb.retry import RetryPolicy, WriteStats, write_in_batches
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, TABLES
from mlmigrate.uris import mask

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000


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


class MongoStore(StoreBase):
    """An MLflow tracking + registry database on MongoDB or Cosmos DB, in the plugin's layout."""

    def __init__(self, uri: str):
        self.uri = uri
        self.display_uri = mask(uri)
        self.database_name = database_name(uri)
        self.batch_size = DEFAULT_BATCH_SIZE
        self.retry_policy = RetryPolicy()
        self.write_stats = WriteStats()
        # every canonical table; the tables outside experiments and models have no place here
        self.capabilities = Capabilities(
            writers=2,
            tables=frozenset(TABLES),
            merge=False,
            batched_writes=True,
            checks_references=True,
            kind="a MongoDB database",
            watermarks=True,
            watermark_kind="the documents MLflow changes hashed whole; metric points counted per run "
            "and logged model, with their latest timestamp, by the server",
        )
        self._client: Any = None
        self._errors = MongoErrors(self.display_uri)

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
            with self._errors.around("connecting"):
                self._client = pymongo.MongoClient(self.uri, appname="mlmigrate", tz_aware=False)
        return self._client[self.database_name]

    # -- destination ------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """Whether the database holds no collection yet."""
        with self._errors.around("connecting"):
            return not self.db.list_collection_names()

    def prepare(self) -> None:
        """Create the plugin's indexes (same names and keys; existing ones are left alone)."""
        _import_mlflow_mappings()
        with self._errors.around("creating indexes"):
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

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments, registered models and the given run ids already in the database."""
        found = ExistingObjects()
        db = self.db
        with self._errors.around("reading what the destination holds"):
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
            for chunk in chunks(list(run_ids)):
                found.run_ids.update(
                    d["_id"] for d in db[layout.RUNS].find({"_id": {"$in": chunk}}, {"_id": 1})
                )
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

    def set_batch_size(self, rows: int) -> None:
        """Documents per insert."""
        self.batch_size = rows

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Clear the unit's documents, then write ``batches`` as the plugin's documents."""
        if into_existing:
            raise unsupported(self.capabilities, "merge", "merge into an experiment or model it holds")
        current = "clearing"
        written: dict[str, int] = {}
        with self._errors.around(f"writing {current} of {unit.unit_id}"):
            if unit.kind == EXPERIMENT:
                self._clear_experiment(dest_id)
                gathered = ExperimentDocuments(dest_id)
                for table, batch in batches:
                    current = table
                    if table == "metrics":
                        self._insert(layout.RUN_METRICS, metric_documents(batch))
                    else:
                        if table == "runs":  # points of a write cut short before its run document
                            for chunk in chunks(batch.column("run_uuid").to_pylist()):
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
        return written

    def delete_unit(self, unit: Unit) -> None:
        """Remove every document of ``unit`` (its destination id in ``unit.source_id``)."""
        with self._errors.around(f"deleting {unit.unit_id}"):
            if unit.kind == EXPERIMENT:
                self._clear_experiment(unit.source_id)
            else:
                self._clear_registered_model(unit.source_id)

    def _clear_experiment(self, key: str) -> None:
        """Remove every document of experiment ``key`` (a resumed unit starts clean)."""
        run_ids = self._ids(layout.RUNS, {"experiment_id": key})
        model_ids = self._ids(layout.LOGGED_MODELS, {"experiment_id": key})
        for chunk in chunks(run_ids):
            self._delete(layout.RUN_METRICS, {"run_id": {"$in": chunk}})
        for chunk in chunks(model_ids):
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
        with self._errors.around("checking references"):
            experiments = {str(i) for i in self._ids(layout.EXPERIMENTS, {})}
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
        return problems

    # -- source -----------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name."""
        with self._errors.around("listing units"):
            experiments = list(self.db[layout.EXPERIMENTS].find({}, {"name": 1}))
            models = [d["name"] for d in self.db[layout.REGISTERED_MODELS].find({}, {"name": 1})]
        experiments.sort(key=lambda d: (len(str(d["_id"])), str(d["_id"])))
        return [Unit(EXPERIMENT, str(d["_id"]), d["name"]) for d in experiments] + [
            Unit(REGISTERED_MODEL, name, name) for name in sorted(models)
        ]

    def watermarks(self) -> dict[str, str]:
        """Each experiment's and registered model's fingerprint (:mod:`.watermarks`)."""
        from mlmigrate.stores.mongodb.watermarks import mongo_watermarks

        with self._errors.around("reading the watermarks"):
            return mongo_watermarks(self.db)

    def run_ids(self) -> list[str]:
        """Every run id, for clash detection against a destination."""
        return [str(i) for i in self._ids(layout.RUNS, {})]

    def held_ids(self, target: str) -> set[str] | None:
        """Run ids or logged model ids (the documents' ``_id``)."""
        collection = {RUN_ID: layout.RUNS, LOGGED_MODEL_ID: layout.LOGGED_MODELS}.get(target)
        return None if collection is None else {str(i) for i in self._ids(collection, {})}

    def read_unit(self, unit: Unit) -> BatchStream:
        """All canonical rows of one unit, table by table."""
        with self._errors.around(f"reading {unit.unit_id}"):
            if unit.kind == EXPERIMENT:
                yield from read_experiment(self.db, unit.source_id)
            else:
                yield from read_registered_model(self.db, unit.source_id)

    def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _import_mlflow_mappings() -> None:
    """Import the MLflow entity mappings documents use, once, before writer threads start:
    two threads importing ``mlflow`` for the first time at once can see it half-initialised."""
    import mlflow.entities.logged_model_status  # noqa: F401
    import mlflow.store.tracking.dbmodels.models  # noqa: F401
    import mlflow.store.tracking.utils.trace_analytics  # noqa: F401
